/**
 * The receiver's config: Prometheus's `scrape_configs`, with the same keys (snake_case,
 * durations as strings), under the receiver's ID.
 */
import { parseDuration, parseSize, Type, type ConfigProblem, type Static } from '@skein/core';
import { isLabelName, RELABEL_ACTIONS, ruleProblems } from './relabel.ts';

const strict = { additionalProperties: false } as const;

export const RelabelRuleSchema = Type.Object(
  {
    source_labels: Type.Optional(Type.Array(Type.String(), { description: 'Labels whose values are joined with `separator` and matched against `regex`.' })),
    separator: Type.Optional(Type.String({ description: 'Joins the source label values. Default `;`.' })),
    regex: Type.Optional(
      Type.String({ description: 'Matched against the joined value (or label names for labelmap, labeldrop, labelkeep), anchored at both ends. Default `(.*)`.' }),
    ),
    modulus: Type.Optional(Type.Integer({ minimum: 1, description: 'For hashmod: the value is the MD5 of the joined source values modulo this.' })),
    target_label: Type.Optional(Type.String({ description: 'The label replace, hashmod, lowercase and uppercase write (replace may use `$1`); keepequal and dropequal compare with.' })),
    replacement: Type.Optional(Type.String({ description: 'What replace and labelmap write, with `$1`, `${name}` expanded from the regex. Default `$1`.' })),
    action: Type.Optional(
      Type.Union(
        RELABEL_ACTIONS.map((a) => Type.Literal(a)),
        { description: 'What the rule does. Default `replace`.' },
      ),
    ),
  },
  strict,
);

const TargetGroupSchema = Type.Object(
  {
    targets: Type.Array(Type.String({ minLength: 1 }), { description: 'Addresses to scrape, `host:port`.' }),
    labels: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Labels every target of the group gets.' }),
  },
  strict,
);

export const ScrapeConfigSchema = Type.Object(
  {
    job_name: Type.String({ minLength: 1, description: 'The `job` label of every target of this config; unique among the configs.' }),
    scrape_interval: Type.String({ format: 'duration', default: '1m', description: 'How often each target is scraped.' }),
    scrape_timeout: Type.Optional(
      Type.String({ format: 'duration', description: 'How long a scrape may take; at most `scrape_interval`. Default 10s, or `scrape_interval` when that is shorter.' }),
    ),
    metrics_path: Type.String({ default: '/metrics', description: 'The HTTP path of the metrics on each target.' }),
    scheme: Type.Union([Type.Literal('http'), Type.Literal('https')], { default: 'http', description: 'The scheme of the scrape URL.' }),
    params: Type.Record(Type.String(), Type.Array(Type.String()), { default: {}, description: 'URL query parameters of every scrape (`module: [if_mib]`).' }),
    honor_labels: Type.Boolean({
      default: false,
      description: "When a scraped series has a label the target also has (`job`, `instance`, …): false keeps the target's and renames the series' one to `exported_<name>`; true keeps the series' one.",
    }),
    honor_timestamps: Type.Boolean({ default: true, description: 'Keep timestamps the target gives its samples; false stamps every sample with the scrape time.' }),
    static_configs: Type.Array(TargetGroupSchema, { default: [], description: 'Fixed groups of targets.' }),
    file_sd_configs: Type.Array(
      Type.Object(
        {
          files: Type.Array(Type.String({ minLength: 1 }), {
            minItems: 1,
            description: 'JSON or YAML files (`.json`, `.yml`, `.yaml`) of target groups; the last path element may be a glob (`targets/*.json`).',
          }),
          refresh_interval: Type.String({ format: 'duration', default: '5m', description: 'Re-read the files this often, besides when they change.' }),
        },
        strict,
      ),
      { default: [], description: 'Target groups read from files, watched for changes.' },
    ),
    basic_auth: Type.Optional(
      Type.Object(
        {
          username: Type.String({ description: 'Basic auth user.' }),
          password: Type.Optional(Type.String({ description: 'Basic auth password.' })),
          password_file: Type.Optional(Type.String({ minLength: 1, description: 'A file holding the password, read at every scrape.' })),
        },
        { ...strict, description: 'Sends `Authorization: Basic …`.' },
      ),
    ),
    authorization: Type.Optional(
      Type.Object(
        {
          type: Type.String({ default: 'Bearer', description: 'The scheme of the `Authorization` header.' }),
          credentials: Type.Optional(Type.String({ description: 'The credentials (a bearer token).' })),
          credentials_file: Type.Optional(Type.String({ minLength: 1, description: 'A file holding the credentials, read at every scrape.' })),
        },
        { ...strict, description: 'Sends `Authorization: <type> <credentials>`.' },
      ),
    ),
    tls_config: Type.Optional(
      Type.Object(
        {
          ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle to verify targets with, instead of the system roots.' })),
          cert_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate (mutual TLS); needs `key_file`.' })),
          key_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of `cert_file`.' })),
          server_name: Type.Optional(Type.String({ minLength: 1, description: 'Name to verify the certificates against, instead of the target host.' })),
          insecure_skip_verify: Type.Boolean({ default: false, description: 'Accept any certificate. For tests only.' }),
        },
        { ...strict, description: 'TLS settings for `scheme: https`; the files are read when the receiver starts.' },
      ),
    ),
    sample_limit: Type.Integer({ minimum: 0, default: 0, description: 'A scrape with more samples than this after metric relabeling fails (`up` 0). 0: no limit.' }),
    label_limit: Type.Integer({ minimum: 0, default: 0, description: 'A scrape with a series of more labels than this (`__name__` included) fails. 0: no limit.' }),
    label_name_length_limit: Type.Integer({ minimum: 0, default: 0, description: 'A scrape with a longer label name fails. 0: no limit.' }),
    label_value_length_limit: Type.Integer({ minimum: 0, default: 0, description: 'A scrape with a longer label value fails. 0: no limit.' }),
    body_size_limit: Type.String({
      format: 'size',
      default: '0',
      description: 'A scrape whose body (uncompressed) reaches this size fails; reading stops there. `0`: no limit.',
    }),
    relabel_configs: Type.Array(RelabelRuleSchema, { default: [], description: 'Rules applied to each target\'s labels before it is scraped.' }),
    metric_relabel_configs: Type.Array(RelabelRuleSchema, { default: [], description: 'Rules applied to each scraped series before it is kept.' }),
  },
  strict,
);

export const PrometheusReceiverConfigSchema = Type.Object(
  {
    scrape_configs: Type.Array(ScrapeConfigSchema, { minItems: 1, description: "Prometheus's scrape configs: what to scrape, how, and what to keep." }),
  },
  strict,
);

export type RelabelRuleConfig = Static<typeof RelabelRuleSchema>;
export type ScrapeConfig = Static<typeof ScrapeConfigSchema>;
export type PrometheusReceiverConfig = Static<typeof PrometheusReceiverConfigSchema>;

/** Timeout when neither the config nor a relabeled `__scrape_timeout__` gives one. */
export const DEFAULT_SCRAPE_TIMEOUT_MS = 10_000;

/** The effective timeout of a scrape config, in milliseconds. */
export function scrapeTimeoutMs(sc: ScrapeConfig): number {
  const interval = parseDuration(sc.scrape_interval);
  return sc.scrape_timeout === undefined ? Math.min(DEFAULT_SCRAPE_TIMEOUT_MS, interval) : parseDuration(sc.scrape_timeout);
}

/** `body_size_limit` in bytes; 0 for none. */
export function bodySizeLimit(sc: ScrapeConfig): number {
  return parseSize(sc.body_size_limit);
}

/** Rules the schema cannot express; the factory's `validate` reports them with their paths. */
export function configProblems(config: PrometheusReceiverConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const jobs = new Map<string, number>();
  config.scrape_configs.forEach((sc, i) => {
    const at = (...path: (string | number)[]) => ['scrape_configs', i, ...path];
    const first = jobs.get(sc.job_name);
    if (first !== undefined) problems.push({ path: at('job_name'), message: `must be unique, "${sc.job_name}" is also scrape_configs[${first}]` });
    else jobs.set(sc.job_name, i);
    const interval = parseDuration(sc.scrape_interval);
    if (!(interval > 0)) problems.push({ path: at('scrape_interval'), message: 'must be more than 0s' });
    if (sc.scrape_timeout !== undefined) {
      const timeout = parseDuration(sc.scrape_timeout);
      if (!(timeout > 0)) problems.push({ path: at('scrape_timeout'), message: 'must be more than 0s' });
      else if (timeout > interval) problems.push({ path: at('scrape_timeout'), message: `must be at most scrape_interval (${sc.scrape_interval}), got ${sc.scrape_timeout}` });
    }
    if (!sc.metrics_path.startsWith('/')) problems.push({ path: at('metrics_path'), message: `must start with "/", got ${JSON.stringify(sc.metrics_path)}` });
    if (sc.static_configs.length === 0 && sc.file_sd_configs.length === 0) {
      problems.push({ path: at(), message: 'has no targets: add static_configs or file_sd_configs' });
    }
    sc.static_configs.forEach((g, gi) => {
      for (const name of Object.keys(g.labels)) {
        if (!isLabelName(name)) problems.push({ path: at('static_configs', gi, 'labels', name), message: 'must be a label name: letters, digits and _, not starting with a digit' });
      }
    });
    if (sc.basic_auth) {
      if (sc.basic_auth.password !== undefined && sc.basic_auth.password_file !== undefined) {
        problems.push({ path: at('basic_auth'), message: 'set password or password_file, not both' });
      }
    }
    if (sc.authorization) {
      const a = sc.authorization;
      if (a.credentials !== undefined && a.credentials_file !== undefined) problems.push({ path: at('authorization'), message: 'set credentials or credentials_file, not both' });
      if (a.credentials === undefined && a.credentials_file === undefined) problems.push({ path: at('authorization'), message: 'needs credentials or credentials_file' });
      if (a.type.toLowerCase() === 'basic') problems.push({ path: at('authorization', 'type'), message: 'cannot be Basic; use basic_auth' });
    }
    if (sc.basic_auth && sc.authorization) problems.push({ path: at('authorization'), message: 'cannot be used with basic_auth; set one of them' });
    if (sc.tls_config) {
      if ((sc.tls_config.cert_file === undefined) !== (sc.tls_config.key_file === undefined)) {
        problems.push({ path: at('tls_config'), message: 'cert_file and key_file must be set together' });
      }
      if (sc.scheme !== 'https') problems.push({ path: at('tls_config'), message: 'is set but scheme is http; use scheme: https' });
    }
    for (const key of ['relabel_configs', 'metric_relabel_configs'] as const) {
      sc[key].forEach((rule, ri) => {
        for (const p of ruleProblems(rule)) problems.push({ path: at(key, ri, ...p.path), message: p.message });
      });
    }
  });
  return problems;
}
