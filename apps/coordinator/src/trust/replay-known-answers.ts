import type { ComputeEnvelope } from '@flock/protocol';
import {
  type KnownAnswer,
  type KnownAnswerRequest,
  type KnownAnswerSource,
  mimicTaskId,
  moduleKeyOf,
} from './known-answers.ts';
import { digestOutputs, type ReplicaOutput, sameResult } from './result-digest.ts';
import type { ResolvedPolicy } from './verification-policy.ts';

interface Remembered {
  envelope: ComputeEnvelope;
  expected: Record<string, Uint8Array>;
  policy: Pick<ResolvedPolicy, 'comparator' | 'absTolerance' | 'relTolerance'>;
  /** Workers that ran the original: they could recognise it. */
  workers: Set<string>;
}

/**
 * Known answers for any module, including ones without a CPU reference: real tasks whose result a
 * quorum of agreeing workers validated are replayed, under a fresh id of the same shape, to a
 * worker that did not run them. The check then builds reputation on that very module. Only
 * quorum-validated results may be remembered (never one believed alone). Kept in memory, at most
 * `perModule` per module hash (oldest dropped): the pool refills from new quorum results.
 */
export class ReplayKnownAnswers implements KnownAnswerSource {
  private readonly pool = new Map<string, Remembered[]>();

  constructor(private readonly perModule = 64) {}

  /** Remembers a validated task: its envelope, canonical outputs (bytes), policy and its workers. */
  remember(
    envelope: ComputeEnvelope,
    outputs: readonly ReplicaOutput[],
    policy: Pick<ResolvedPolicy, 'comparator' | 'absTolerance' | 'relTolerance'>,
    workers: readonly string[],
  ): boolean {
    const expected: Record<string, Uint8Array> = {};
    for (const out of outputs) {
      if (out.bytes === undefined) return false;
      expected[out.name] = out.bytes;
    }
    const key = moduleKeyOf(envelope);
    const list = this.pool.get(key) ?? [];
    this.pool.set(key, list);
    list.push({
      envelope: structuredClone(envelope),
      expected,
      policy: { ...policy },
      workers: new Set(workers),
    });
    if (list.length > this.perModule) list.shift();
    return true;
  }

  /** Remembered tasks of a module. */
  size(moduleHash: string): number {
    return this.pool.get(moduleHash)?.length ?? 0;
  }

  async make(request: KnownAnswerRequest): Promise<KnownAnswer | undefined> {
    const key = request.template ? moduleKeyOf(request.template) : undefined;
    const lists = key !== undefined ? [this.pool.get(key) ?? []] : [...this.pool.values()];
    const candidates = lists.flat().filter((r) => !r.workers.has(request.workerId));
    if (candidates.length === 0) return undefined;
    const r = candidates[Math.floor(request.random() * candidates.length)]!;
    const envelope = structuredClone(r.envelope);
    envelope.task_id = mimicTaskId(request.template?.task_id ?? r.envelope.task_id, request.random);
    delete envelope.security;
    return {
      envelope,
      moduleHash: moduleKeyOf(envelope),
      op: envelope.op ?? '',
      inputs: {},
      expected: r.expected,
      tolerance:
        r.policy.comparator === 'tolerance'
          ? { abs: r.policy.absTolerance, rel: r.policy.relTolerance }
          : undefined,
    };
  }

  check(answer: KnownAnswer, outputs: readonly ReplicaOutput[]): boolean {
    const policy: Pick<ResolvedPolicy, 'comparator' | 'absTolerance' | 'relTolerance'> = answer.tolerance
      ? { comparator: 'tolerance', absTolerance: answer.tolerance.abs, relTolerance: answer.tolerance.rel }
      : { comparator: 'exact', absTolerance: 0, relTolerance: 0 };
    const want = Object.entries(answer.expected).map(([name, bytes]) => ({ name, bytes }));
    try {
      return sameResult(digestOutputs(want, policy), digestOutputs(outputs, policy), policy);
    } catch {
      return false; // outputs the comparator cannot read are wrong answers
    }
  }
}

/** Tries each source in order; the first that has a check makes it and judges it. */
export class FirstKnownAnswers implements KnownAnswerSource {
  constructor(private readonly sources: readonly KnownAnswerSource[]) {}

  async make(request: KnownAnswerRequest): Promise<KnownAnswer | undefined> {
    for (const [i, source] of this.sources.entries()) {
      const answer = await source.make(request);
      if (answer) return { ...answer, source: i };
    }
    return undefined;
  }

  async check(answer: KnownAnswer, outputs: readonly ReplicaOutput[]): Promise<boolean> {
    const source = this.sources[answer.source ?? 0];
    return (await source?.check(answer, outputs)) === true;
  }
}
