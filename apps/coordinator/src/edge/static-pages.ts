import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { CoordinatorError } from '../errors.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/wgsl; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

/** Where the Vite build (root `vite.config.ts`, root `apps/`) puts each page's HTML. */
const PAGES: Record<string, { file: string; title: string; issue: string }> = {
  '/': { file: 'worker-web/index.html', title: 'Flock volunteer page', issue: 'apps/worker-web' },
  '/dashboard/': { file: 'dashboard/index.html', title: 'Flock dashboard', issue: 'apps/dashboard' },
};

function placeholder(title: string, source: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>
<h1>${title}</h1><p>The ${title.toLowerCase()} is not built yet (${source}). Run <code>npx vite build</code>
and reload. The API is up: <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>.</p></body></html>`;
}

/**
 * Serves the built pages from `pagesDir` with COOP/COEP/CORP on every response, so the pages are
 * cross-origin isolated. Missing page builds get a placeholder that says so.
 */
export async function servePage(
  pagesDir: string,
  path: string,
  res: ServerResponse,
  headers: Record<string, string>,
): Promise<void> {
  const page = PAGES[path === '/dashboard' ? '/dashboard/' : path];
  const rel = page ? page.file : normalize(decodePath(path)).replace(/^([/\\])+/, '');
  const file = join(pagesDir, rel);
  if (!file.startsWith(pagesDir + sep)) return notFound(res, headers);
  try {
    const bytes = await readFile(file);
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': bytes.length,
      'Cache-Control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    res.end(bytes);
  } catch {
    if (page) {
      const html = placeholder(page.title, page.issue);
      res.writeHead(200, {
        ...headers,
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-cache',
      });
      res.end(html);
      return;
    }
    notFound(res, headers);
  }
}

/** Percent-decodes a page path; malformed encoding (`/%zz`, `/%c0%af`) is 400, not a crash. */
function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw new CoordinatorError('INVALID_ARGUMENT', 'malformed percent-encoding in the path', 'path');
  }
}

function notFound(res: ServerResponse, headers: Record<string, string>): void {
  const body = JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such page' } });
  res.writeHead(404, { ...headers, 'Content-Type': 'application/json; charset=utf-8' });
  res.end(body);
}
