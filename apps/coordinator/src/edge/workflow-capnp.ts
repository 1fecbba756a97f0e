// A workflow definition sent as Cap'n Proto (`WorkflowDefinition`, packages/protocol/schema/
// compute.capnp) in the JSON form `POST /v1/workflows` takes: each step's envelope flattened into
// the step, explicit fields only where the message sets them. The JSON checks then apply alike.
import { decodeMessage, toJson } from '@flock/protocol';

type Obj = Record<string, unknown>;

/** The JSON-form definition of a `WorkflowDefinition` message (bytes up to `maxBytes`). */
export function definitionFromCapnp(body: Uint8Array, maxBytes: number): Obj {
  const view = toJson(
    'WorkflowDefinition',
    decodeMessage('WorkflowDefinition', body, { maxFrameBytes: maxBytes }),
  );
  const out: Obj = { steps: ((view.steps as Obj[] | undefined) ?? []).map(stepFromView) };
  if (view.workflow_id) out.workflow_id = view.workflow_id;
  const onError = policyFromView(view.on_error as Obj | undefined);
  if (onError !== undefined) out.on_error = onError;
  if (view.return_channel) out.return_channel = view.return_channel;
  return out;
}

function stepFromView(step: Obj): Obj {
  // task_id or campaign_id set in the envelope are kept, for the definition checks to refuse.
  const out: Obj = { id: step.id ?? '', ...((step.envelope as Obj | undefined) ?? {}) };
  if (step.depends_on_set === true) out.depends_on = step.depends_on ?? [];
  if (step.when) out.when = step.when;
  if (step.for_each) out.for_each = step.for_each;
  const onError = policyFromView(step.on_error as Obj | undefined);
  if (onError !== undefined) out.on_error = onError;
  if (step.compensate !== undefined) out.compensate = step.compensate;
  return out;
}

/** `inherit` (or unset): undefined; `retry`: `{ retry, backoff_ms? }`; else the kind's name. */
function policyFromView(policy: Obj | undefined): unknown {
  const kind = policy?.kind;
  if (policy === undefined || kind === undefined || kind === 'inherit') return undefined;
  if (kind !== 'retry') return kind;
  return { retry: policy.retry ?? 0, ...(policy.backoff_ms ? { backoff_ms: policy.backoff_ms } : {}) };
}
