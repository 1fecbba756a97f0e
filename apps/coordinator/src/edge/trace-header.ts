// W3C `traceparent` at the REST edge (#19): a submission's header names the trace its tasks join,
// and the answer's header names the coordinator's span in it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  campaignTraceId,
  formatTraceparent,
  isTraceId,
  parseTraceparent,
  submitSpanId,
  type TraceParent,
} from '@flock/protocol';

/**
 * The request's `traceparent`, or undefined when it has none or an invalid one: the spec says an
 * invalid header is ignored (a new trace begins), so it is never a 400.
 */
export function requestTrace(req: IncomingMessage): TraceParent | undefined {
  const header = req.headers.traceparent;
  return parseTraceparent(Array.isArray(header) ? undefined : header);
}

/**
 * Answers `traceparent: 00-<traceId>-<span>-<flags>`, the span being the submission's (derived from
 * the trace id and `subjectId`, the task or campaign id). Nothing for a requester's own
 * `correlation_id` that is not a W3C trace id.
 */
export function answerTrace(
  res: ServerResponse,
  traceId: string | undefined,
  subjectId: string,
  parent: TraceParent | undefined,
): void {
  if (!isTraceId(traceId)) return;
  res.setHeader('traceparent', formatTraceparent(traceId!, submitSpanId(traceId!, subjectId), parent?.flags));
}

/**
 * Answers a workflow's trace (its steps'): derived from the tenant and workflow id, so a
 * traceparent sent with the workflow is not used.
 */
export function answerWorkflowTrace(res: ServerResponse, tenant: string, workflowId: string): void {
  answerTrace(res, campaignTraceId(tenant, workflowId), workflowId, undefined);
}
