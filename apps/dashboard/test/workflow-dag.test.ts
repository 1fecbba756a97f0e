import { describe, expect, it } from 'vitest';
import { dagLayers } from '../src/workflow-dag.ts';

describe('dagLayers', () => {
  it('puts each step one layer right of its deepest dependency', () => {
    const steps = [
      { id: 'a', depends_on: [] },
      { id: 'b', depends_on: ['a'] },
      { id: 'c', depends_on: ['a'] },
      { id: 'd', depends_on: ['b', 'c'] },
      { id: 'e', depends_on: ['a', 'd'] },
      { id: 'x', depends_on: [] },
    ];
    expect(dagLayers(steps)).toEqual([['a', 'x'], ['b', 'c'], ['d'], ['e']]);
  });

  it('orders a chain one step per layer and keeps definition order within a layer', () => {
    expect(
      dagLayers([
        { id: 's2', depends_on: ['s1'] },
        { id: 's1', depends_on: [] },
      ]),
    ).toEqual([['s1'], ['s2']]);
    expect(dagLayers([])).toEqual([]);
  });
});
