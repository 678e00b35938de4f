/**
 * A fleet on one machine: N agents (default 50) in one process, each with its own SDK meter
 * provider, exporter and node name, pushing random-walk scores to one cluster. A few start
 * unhealthy, so the threshold has someone to catch. Once per interval it prints what the fleet
 * has learnt; `--verbose` prints every agent's own line as well.
 *
 *   npx node examples/agent/scripts/fleet.ts --agents 50 --protocol mixed --interval 5s --unhealthy 3
 */
import { parseArgs } from 'node:util';
import { DEFAULT_ENDPOINTS, parseInterval, parseScore, runUntilSignal, startAgent, type Agent, type Protocol } from '../src/agent.ts';

const USAGE = `usage: npx node examples/agent/scripts/fleet.ts [flags]
  --agents N           how many agents (default 50)
  --protocol P         http, grpc, or mixed: even agents over HTTP, odd over gRPC (default mixed)
  --cluster ID         the cluster they all push to (default demo)
  --interval D         each agent pushes every D (default 5s)
  --unhealthy N        agents whose scores wander around 0.2 instead of 0.7-0.95 (default 3)
  --http-endpoint URL  OTLP/HTTP base URL (default ${DEFAULT_ENDPOINTS.http})
  --grpc-endpoint H:P  OTLP/gRPC address (default ${DEFAULT_ENDPOINTS.grpc})
  --verbose            print every agent's line, not only the summaries`;

function positiveInt(name: string, s: string, min: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(s)}`);
  return n;
}

function options() {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '50' },
      protocol: { type: 'string', default: 'mixed' },
      cluster: { type: 'string', default: 'demo' },
      interval: { type: 'string', default: '5s' },
      unhealthy: { type: 'string', default: '3' },
      'http-endpoint': { type: 'string', default: DEFAULT_ENDPOINTS.http },
      'grpc-endpoint': { type: 'string', default: DEFAULT_ENDPOINTS.grpc },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const protocol = values.protocol as Protocol | 'mixed';
  if (protocol !== 'http' && protocol !== 'grpc' && protocol !== 'mixed') throw new Error(`--protocol must be http, grpc or mixed, got ${JSON.stringify(protocol)}`);
  const agents = positiveInt('agents', values.agents, 1);
  return {
    agents,
    protocol,
    cluster: values.cluster,
    intervalMs: parseInterval(values.interval),
    unhealthy: Math.min(agents, positiveInt('unhealthy', values.unhealthy, 0)),
    endpoints: { http: values['http-endpoint'], grpc: values['grpc-endpoint'] } as Record<Protocol, string>,
    verbose: values.verbose,
  };
}

if (process.argv.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
let o: ReturnType<typeof options>;
try {
  o = options();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exit(2);
}

const width = String(o.agents).length;
// The unhealthy ones spread through the fleet rather than bunched at the start.
const unhealthy = new Set(Array.from({ length: o.unhealthy }, (_, k) => Math.floor((k * o.agents) / o.unhealthy)));
const fleet: Agent[] = [];
for (let i = 0; i < o.agents; i++) {
  const protocol: Protocol = o.protocol === 'mixed' ? (i % 2 === 0 ? 'http' : 'grpc') : o.protocol;
  fleet.push(
    startAgent({
      protocol,
      endpoint: o.endpoints[protocol],
      api: new URL('/api/v1/threshold', o.endpoints.http).href,
      cluster: o.cluster,
      node: `node-${String(i + 1).padStart(width, '0')}`,
      intervalMs: o.intervalMs,
      score: parseScore(unhealthy.has(i) ? 'walk:0.2' : 'walk'),
      print: o.verbose ? (line) => process.stdout.write(`${line}\n`) : () => {},
    }),
  );
}

process.stdout.write(`${o.agents} agents (${o.protocol}) pushing to cluster ${o.cluster} every ${o.intervalMs / 1000}s; ${o.unhealthy} start unhealthy\n`);

function summary(): string {
  const known = fleet.filter((a) => a.state !== undefined);
  const fromHeaders = known.filter((a) => a.state!.source === 'headers').length;
  // The most recent answer is the fleet's current threshold; older ones predate the last pushes.
  const sample = known.reduce<Agent | undefined>((latest, a) => (latest === undefined || a.state!.at > latest.state!.at ? a : latest), undefined);
  if (sample === undefined) return `fleet: no agent knows the threshold yet (is Skein running on ${o.endpoints.http}?)`;
  const { threshold, quorumMet } = sample.state!;
  const head = `fleet: ${known.length}/${fleet.length} agents know the threshold (${fromHeaders} from push replies); cluster ${o.cluster} threshold ${Math.round(threshold * 10_000) / 10_000} quorum ${quorumMet}`;
  if (!quorumMet) return `${head}: no verdict until the quorum is met`;
  const below = known.filter((a) => a.state!.quorumMet && a.score < a.state!.threshold);
  return `${head}; below: ${below.length === 0 ? 'none' : below.map((a) => `${a.node} (${a.score.toFixed(2)})`).join(', ')}`;
}

await Promise.all(fleet.map((a) => a.coldStart));
process.stdout.write(`${summary()}\n`);
// Half an interval after each round of pushes, so a summary sees the round's replies.
const printSummary = () => process.stdout.write(`${summary()}\n`);
let every: NodeJS.Timeout | undefined;
const first = setTimeout(() => {
  printSummary();
  every = setInterval(printSummary, o.intervalMs);
}, o.intervalMs * 1.5);

await runUntilSignal(async () => {
  clearTimeout(first);
  clearInterval(every);
  await Promise.all(fleet.map((a) => a.stop()));
});
