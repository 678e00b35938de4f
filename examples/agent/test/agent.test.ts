/**
 * Agents against a real Skein: the default distribution's OTLP receiver, threshold processor,
 * threshold_store and threshold_headers, configured as configs/default.yaml but on free
 * loopback ports and with a quorum of 3. Agents with an hour-long interval push only when the
 * test says (`pushNow`), so every step is deterministic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBuiltins } from '@skein/cli/distribution';
import type { Service } from '@skein/core';
import { startService } from '@skein/core/testing';
import { parseInterval, parseScore, startAgent, statusLine, type Agent, type AgentOptions, type Protocol } from '../src/agent.ts';

interface Skein {
  service: Service;
  http: string;
  grpc: string;
  api: string;
}

async function startSkein(): Promise<Skein> {
  const service = await startService(
    `
extensions:
  threshold_store: {ttl: 30s, refresh_interval: 1h}
  threshold_headers: {store: threshold_store}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0", middlewares: [threshold_headers]}
      http: {endpoint: "127.0.0.1:0", middlewares: [threshold_headers]}
processors:
  threshold: {store: threshold_store, statistical_min: 3}
exporters:
  debug: {verbosity: basic}
service:
  extensions: [threshold_store, threshold_headers]
  pipelines:
    metrics/fleet: {receivers: [otlp], processors: [threshold], exporters: [debug]}
`,
    (await loadBuiltins()).map((b) => b.factory),
  );
  const otlp = service.getComponent<{ httpAddress: { port: number }; grpcAddress: { port: number } }>('receivers', 'otlp')!;
  const http = `http://127.0.0.1:${otlp.httpAddress.port}`;
  return { service, http, grpc: `127.0.0.1:${otlp.grpcAddress.port}`, api: `${http}/api/v1/threshold` };
}

/** What an agent knows, without when it learnt it. */
function known(a: Agent) {
  if (a.state === undefined) return undefined;
  const { threshold, quorumMet, source } = a.state;
  return { threshold, quorumMet, source };
}

async function apiView(s: Skein, cluster = 'demo') {
  return (await (await fetch(`${s.api}?cluster_id=${cluster}`)).json()) as { threshold: number; quorum_met: boolean; active_nodes: number };
}

function agentOn(s: Skein, protocol: Protocol, node: string, score: number, lines: string[], extra: Partial<AgentOptions> = {}): Agent {
  return startAgent({
    protocol,
    endpoint: protocol === 'http' ? s.http : s.grpc,
    api: s.api,
    cluster: 'demo',
    node,
    intervalMs: 3_600_000,
    score: () => score,
    print: (line) => lines.push(line),
    ...extra,
  });
}

test('agents learn the threshold from the API on a cold start, then from the headers of their pushes (HTTP and gRPC)', async () => {
  const s = await startSkein();
  const lines: string[] = [];
  const agents: Agent[] = [];
  try {
    const a = agentOn(s, 'http', 'a', 0.9, lines);
    const b = agentOn(s, 'grpc', 'b', 0.8, lines);
    const c = agentOn(s, 'http', 'c', 0.5, lines);
    agents.push(a, b, c);
    await Promise.all(agents.map((x) => x.coldStart));
    for (const x of agents) assert.deepEqual(known(x), { threshold: 0, quorumMet: false, source: 'api' });
    assert.deepEqual(lines.sort(), ['a', 'b', 'c'].map((n) => `node ${n} score ${{ a: 0.9, b: 0.8, c: 0.5 }[n]} threshold 0 quorum false: no quorum yet (from the API: cold start)`));
    lines.length = 0;

    await a.pushNow();
    await b.pushNow();
    assert.deepEqual(known(b), { threshold: 0, quorumMet: false, source: 'headers' });
    await c.pushNow(); // the third node: the quorum, in the reply to this very push
    const view = await apiView(s);
    assert.deepEqual([view.quorum_met, view.active_nodes], [true, 3]);
    assert.ok(Math.abs(view.threshold - (0.8 - 3 * 1.4826 * 0.1)) < 1e-9);
    assert.deepEqual(known(c), { threshold: view.threshold, quorumMet: true, source: 'headers' });
    await b.pushNow(); // over gRPC: from the initial metadata
    assert.deepEqual(known(b), { threshold: view.threshold, quorumMet: true, source: 'headers' });
    assert.deepEqual(lines, [
      'node a score 0.9 threshold 0 quorum false: no quorum yet',
      'node b score 0.8 threshold 0 quorum false: no quorum yet',
      'node c score 0.5 threshold 0.3552 quorum true: above',
      'node b score 0.8 threshold 0.3552 quorum true: above',
    ]);

    // A node that starts now learns the threshold from the API before its first push...
    lines.length = 0;
    const d = agentOn(s, 'grpc', 'd', 0.2, lines);
    agents.push(d);
    await d.coldStart;
    assert.deepEqual(known(d), { threshold: view.threshold, quorumMet: true, source: 'api' });
    assert.deepEqual(lines, ['node d score 0.2 threshold 0.3552 quorum true: below (from the API: cold start)']);
    // ...and from the headers after it.
    await d.pushNow();
    assert.deepEqual(known(d), { threshold: view.threshold, quorumMet: true, source: 'headers' });
    assert.equal(lines[1], 'node d score 0.2 threshold 0.3552 quorum true: below');
    assert.equal((await apiView(s)).active_nodes, 4);
  } finally {
    await Promise.all(agents.map((x) => x.stop()));
    await s.service.shutdown();
  }
});

test('an agent pushes on its own every interval', async () => {
  const s = await startSkein();
  const lines: string[] = [];
  const agent = agentOn(s, 'grpc', 'e', 0.7, lines, { intervalMs: 100 });
  try {
    await agent.coldStart;
    const until = Date.now() + 10_000;
    while (lines.filter((l) => !l.includes('cold start')).length < 2) {
      assert.ok(Date.now() < until, `no two pushes within 10 s: ${lines.join('; ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(agent.state?.source, 'headers');
    assert.equal((await apiView(s)).active_nodes, 1);
  } finally {
    await agent.stop();
    await s.service.shutdown();
  }
});

test('an agent with no Skein to talk to says so, and does not crash', async () => {
  const s = await startSkein();
  const { http, grpc, api } = s;
  await s.service.shutdown();
  const lines: string[] = [];
  const agent = startAgent({ protocol: 'http', endpoint: http, api, cluster: 'demo', node: 'f', intervalMs: 3_600_000, score: () => 0.5, print: (l) => lines.push(l) });
  const overGrpc = startAgent({ protocol: 'grpc', endpoint: grpc, api, cluster: 'demo', node: 'g', intervalMs: 3_600_000, score: () => 0.5, print: (l) => lines.push(l) });
  try {
    await Promise.all([agent.coldStart, overGrpc.coldStart, agent.pushNow(), overGrpc.pushNow()]);
    assert.equal(agent.state, undefined);
    assert.ok(lines.includes(`node f: the threshold API at ${api} did not answer; waiting for the first push's reply`), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('node f score 0.5: push failed: fetch failed')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('node g score 0.5: push failed: gRPC UNAVAILABLE')), lines.join('\n'));
  } finally {
    await Promise.all([agent.stop(), overGrpc.stop()]);
  }
});

test('flags: intervals, scores and the status line', () => {
  assert.equal(parseInterval('5s'), 5000);
  assert.equal(parseInterval('250ms'), 250);
  assert.equal(parseInterval('1m'), 60_000);
  assert.equal(parseInterval('2'), 2000);
  assert.throws(() => parseInterval('soon'), { message: '--interval must be a duration such as 5s, 500ms or 1m, got "soon"' });
  assert.equal(parseScore('0.82')(), 0.82);
  assert.throws(() => parseScore('high'), { message: '--score must be a number, walk or walk:<centre>, got "high"' });

  let r = 0;
  const noise = [0.5, 1, 0, 1, 1, 1, 1, 1, 1, 1];
  const walk = parseScore('walk:0.3', () => noise[r++ % noise.length]!);
  const values = Array.from({ length: 10 }, walk);
  assert.equal(values[0], 0.3);
  assert.ok(Math.abs(values[1]! - 0.3) < 1e-12, 'noise 0.5 is no step'); // 0.5 − 0.5 = 0
  assert.ok(Math.abs(values[2]! - 0.33) < 1e-12);
  assert.ok(values.every((v) => v >= 0 && v <= 1));

  assert.equal(statusLine('n1', 0.82, { threshold: 0.61, quorumMet: true }, 'headers'), 'node n1 score 0.82 threshold 0.61 quorum true: above');
  assert.equal(statusLine('n1', 0.5, { threshold: 0.61, quorumMet: true }, 'headers'), 'node n1 score 0.5 threshold 0.61 quorum true: below');
  assert.equal(statusLine('n1', 0.5, { threshold: 0, quorumMet: false }, 'api'), 'node n1 score 0.5 threshold 0 quorum false: no quorum yet (from the API: cold start)');
});
