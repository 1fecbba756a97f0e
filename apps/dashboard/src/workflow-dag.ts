// The layers of a workflow's DAG for drawing it left to right: a step sits one layer right of its
// deepest dependency, so every edge points rightwards.

/** Step ids by layer (roots first), each layer in definition order. */
export function dagLayers(steps: ReadonlyArray<{ id: string; depends_on: readonly string[] }>): string[][] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const depth = new Map<string, number>();
  const depthOf = (id: string, seen: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    // A cycle or an unknown id cannot come from the coordinator; drawn as a root all the same.
    if (seen.has(id) || !byId.has(id)) return 0;
    seen.add(id);
    const deps = byId.get(id)!.depends_on.filter((d) => byId.has(d));
    const d = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((x) => depthOf(x, seen)));
    depth.set(id, d);
    return d;
  };
  const layers: string[][] = [];
  for (const s of steps) {
    const d = depthOf(s.id, new Set());
    const layer = layers[d] ?? [];
    layer.push(s.id);
    layers[d] = layer;
  }
  return layers.filter((layer) => layer !== undefined);
}
