/** A component or pipeline ID: `type[/name]`. */
export interface ComponentId {
  type: string;
  name?: string;
}

const ID_RE = /^([a-z][a-z0-9_]*)(?:\/([^\s/]+))?$/;

/** Parses `type[/name]`; undefined when malformed. */
export function parseId(id: string): ComponentId | undefined {
  const m = ID_RE.exec(id);
  if (!m) return undefined;
  return m[2] === undefined ? { type: m[1]! } : { type: m[1]!, name: m[2] };
}

export const ID_RULE = 'must be type[/name]: a lowercase type such as "otlp", optionally "/" and a name without spaces';
