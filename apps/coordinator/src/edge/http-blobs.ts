import type { IncomingMessage, ServerResponse } from 'node:http';
import { CoordinatorError } from '../errors.ts';
import { blobHex } from '../store/blob-store.ts';
import { type ApiContext, type Handler, isWasm, json, mediaType, readBody } from './http-util.ts';

/**
 * `POST /v1/modules`: a WASM or WGSL module, or an ONNX model (`application/onnx`, for ml.*
 * tasks' `params.model`), content-addressed, to be named by tasks' `module.uri` or `params.model`.
 */
export const uploadModule: Handler = async (ctx, req, res, tenant) => {
  const type = mediaType(req);
  if (type === 'application/onnx') return uploadModel(ctx, req, res, tenant);
  if (type !== 'application/wasm' && type !== 'text/wgsl') {
    throw new CoordinatorError(
      'UNSUPPORTED_MEDIA_TYPE',
      'use application/wasm, text/wgsl or application/onnx',
    );
  }
  const body = await readBody(req, ctx.config.maxBodyBytes);
  if (body.length === 0) throw new CoordinatorError('INVALID_ARGUMENT', 'module is empty', 'body');
  await ctx.limits.checkStored(tenant, body.length);
  if (type === 'application/wasm' && !isWasm(body)) {
    throw new CoordinatorError('INVALID_ARGUMENT', 'not a WebAssembly binary (bad magic)', 'body');
  }
  // Refused now if it could never be metered; its instrumented form is then ready for tasks.
  const metered = type === 'application/wasm' ? await ctx.meter.meterUpload(body) : undefined;
  const hex = ctx.coordinator.blobs.put(body);
  const hash = `sha256:${hex}`;
  await ctx.coordinator.store.recordBlob(hash, tenant, 'module', body.length, Date.now());
  // metered_hash: what tabs will run (the module instrumented with fuel), for tasks naming `uri`.
  json(res, 201, {
    hash,
    size: body.length,
    uri: `flock:${hash}`,
    ...(metered ? { metered_hash: metered.hash } : {}),
  });
};

/**
 * An ONNX model: up to FLOCK_MAX_MODEL_BYTES (models outgrow modules), read far enough to know it
 * is a ModelProto with a graph, then public by hash like a module (tabs fetch it from
 * `GET /v1/modules/<hash>` and keep it by hash).
 */
async function uploadModel(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  tenant: string,
): Promise<void> {
  const body = await readBody(req, ctx.config.maxModelBytes, 'FLOCK_MAX_MODEL_BYTES');
  if (body.length === 0) throw new CoordinatorError('INVALID_ARGUMENT', 'model is empty', 'body');
  await ctx.limits.checkStored(tenant, body.length);
  const { OnnxFormatError, readOnnxInfo } = await import('@flock/libraries/models');
  try {
    readOnnxInfo(body);
  } catch (error) {
    if (!(error instanceof OnnxFormatError)) throw error;
    // Its message already says "not an ONNX model: <why>".
    throw new CoordinatorError('INVALID_ARGUMENT', error.message, 'body');
  }
  const hex = ctx.coordinator.blobs.put(body);
  const hash = `sha256:${hex}`;
  await ctx.coordinator.store.recordBlob(hash, tenant, 'model', body.length, Date.now());
  json(res, 201, { hash, size: body.length, uri: `flock:${hash}` });
}

/** Any bytes, to be named as a task input (`uri: "flock:sha256:<hex>"`): content-addressed. */
export const uploadBlob: Handler = async (ctx, req, res, tenant) => {
  const body = await readBody(req, ctx.config.maxBodyBytes);
  await ctx.limits.checkStored(tenant, body.length);
  const hex = ctx.coordinator.blobs.put(body);
  const hash = `sha256:${hex}`;
  await ctx.coordinator.store.recordBlob(hash, tenant, 'input', body.length, Date.now());
  json(res, 201, { hash, size: body.length, uri: `flock:${hash}` });
};

/**
 * An uploaded input of a live lease, for the tab that holds it: the lease's task token (header
 * `X-Flock-Task-Token`) stands in for an API key, and only inputs the task names are served.
 * Anything else is 404, so a guesser learns nothing.
 */
export async function getLeaseInput(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  leaseId: string,
  name: string,
): Promise<void> {
  const token = req.headers['x-flock-task-token'];
  const hex = blobHex(name);
  const bytes =
    hex && typeof token === 'string' && ctx.coordinator.leaseMayRead(leaseId, token, name)
      ? ctx.coordinator.blobs.read(hex)
      : undefined;
  if (!bytes) throw new CoordinatorError('NOT_FOUND', `no input "${name}" for this lease`);
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': bytes.length,
    'Cache-Control': 'private, no-store',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });
  res.end(bytes);
}

/** `GET /v1/modules/<name>`: modules and models, public by content hash (volunteer tabs hold no API key). */
export async function getModule(ctx: ApiContext, res: ServerResponse, name: string): Promise<void> {
  const hex = blobHex(name);
  if (!hex || !(await ctx.coordinator.store.isModule(name)))
    throw new CoordinatorError('NOT_FOUND', `no module "${name}"`);
  const bytes = ctx.coordinator.blobs.read(hex);
  if (!bytes) throw new CoordinatorError('NOT_FOUND', `no module "${name}"`);
  const type = isWasm(bytes)
    ? 'application/wasm'
    : (await ctx.coordinator.store.isModel(name))
      ? 'application/onnx'
      : 'text/wgsl; charset=utf-8';
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': bytes.length,
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: `"${name}"`,
    // Content-addressed and public by hash: pages on allowed origins may embed it.
    'Cross-Origin-Resource-Policy': 'cross-origin',
  });
  res.end(bytes);
}

export const getBlob: Handler = async (ctx, _req, res, tenant, parts) => {
  const name = parts[1]!;
  const hex = blobHex(name);
  if (!hex || !(await ctx.coordinator.store.blobVisible(name, tenant))) {
    throw new CoordinatorError('NOT_FOUND', `no blob "${name}"`);
  }
  const bytes = ctx.coordinator.blobs.read(hex);
  if (!bytes) throw new CoordinatorError('NOT_FOUND', `no blob "${name}"`);
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': bytes.length,
    'Cache-Control': 'private, max-age=31536000, immutable',
    ETag: `"${name}"`,
    'Cross-Origin-Resource-Policy': 'same-origin',
  });
  res.end(bytes);
};
