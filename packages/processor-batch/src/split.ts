/**
 * Cutting a list of resources after its first `n` data points, keeping the resource → scope →
 * metric structure on both sides. Nothing given in is changed: a resource, scope or metric
 * cut in two becomes two new shells over sliced point arrays; whole ones are passed on as
 * they are.
 */
import type { Metric, ResourceMetrics, ScopeMetrics } from '@skein/core';

export function pointsInScope(sm: ScopeMetrics): number {
  let n = 0;
  for (const m of sm.metrics) n += m.points.length;
  return n;
}

export function pointsInResource(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) n += pointsInScope(sm);
  return n;
}

function splitMetric(m: Metric, n: number): [Metric, Metric] {
  return [{ ...m, points: m.points.slice(0, n) } as Metric, { ...m, points: m.points.slice(n) } as Metric];
}

/** Splits one level of the tree: `items` whose points add up to more than `n`. */
function splitList<T>(items: readonly T[], n: number, count: (item: T) => number, split: (item: T, n: number) => [T, T]): [T[], T[]] {
  const head: T[] = [];
  let left = n;
  let i = 0;
  for (; i < items.length && left > 0; i++) {
    const item = items[i]!;
    const c = count(item);
    if (c <= left) {
      head.push(item);
      left -= c;
      continue;
    }
    const [a, b] = split(item, left);
    head.push(a);
    return [head, [b, ...items.slice(i + 1)]];
  }
  return [head, items.slice(i)];
}

function splitScope(sm: ScopeMetrics, n: number): [ScopeMetrics, ScopeMetrics] {
  const [a, b] = splitList(sm.metrics, n, (m) => m.points.length, splitMetric);
  return [
    { ...sm, metrics: a },
    { ...sm, metrics: b },
  ];
}

function splitResource(rm: ResourceMetrics, n: number): [ResourceMetrics, ResourceMetrics] {
  const [a, b] = splitList(rm.scopeMetrics, n, pointsInScope, splitScope);
  return [
    { ...rm, scopeMetrics: a },
    { ...rm, scopeMetrics: b },
  ];
}

/**
 * The first `n` data points of `resources` and the rest. `counts[i]` is the number of points
 * in `resources[i]` (the caller keeps them, so nothing is counted twice).
 */
export function splitResources(
  resources: readonly ResourceMetrics[],
  counts: readonly number[],
  n: number,
): { head: ResourceMetrics[]; tail: ResourceMetrics[]; tailCounts: number[] } {
  const head: ResourceMetrics[] = [];
  let left = n;
  let i = 0;
  for (; i < resources.length && left > 0; i++) {
    const c = counts[i]!;
    if (c <= left) {
      head.push(resources[i]!);
      left -= c;
      continue;
    }
    const [a, b] = splitResource(resources[i]!, left);
    head.push(a);
    return {
      head,
      tail: [b, ...resources.slice(i + 1)],
      tailCounts: [c - left, ...counts.slice(i + 1)],
    };
  }
  return { head, tail: resources.slice(i), tailCounts: counts.slice(i) };
}
