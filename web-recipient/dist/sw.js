/* Sealpost recipient page: the service worker that turns decrypted plaintext into a download.
 *
 * It never sees a key or any ciphertext, keeps nothing on disk and caches nothing. The page
 * registers it with scope /r/. To save an attachment the page
 *   1. posts {type: "sealpost-download", v: 1, id, name, size} to it with a MessagePort,
 *   2. navigates itself to /r/_download/{id}/{name} (a top-level navigation: Chromium does not
 *      give <a download> requests to service workers, and the page's CSP allows no frames),
 * and this worker answers that one request with a Response whose body is a ReadableStream
 * pulled from the page through the port: each pull asks the page for the next chunk of
 * verified plaintext ({type: "pull"}); the page answers {type: "chunk", data} (the ArrayBuffer
 * is transferred), {type: "end"} after the chunk root verified, or {type: "error"}, which errors
 * the stream so that the browser discards the partial file. An id is good for one request and
 * one minute. Any other request is left to the network.
 */
'use strict';

const PROTOCOL = 1;
const CLAIM_MS = 60 * 1000;
const ID_RE = /^[A-Za-z0-9_-]{22,64}$/;

/** id -> {port, name, size, created} */
const pending = new Map();

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

function forgetStale() {
  const now = Date.now();
  for (const [id, entry] of pending) {
    if (now - entry.created > CLAIM_MS) {
      pending.delete(id);
      try {
        entry.port.postMessage({ type: 'expired' });
        entry.port.close();
      } catch (_) {
        /* the page is gone */
      }
    }
  }
}

self.addEventListener('message', (event) => {
  const data = event.data;
  if (!data || typeof data !== 'object') {
    return;
  }
  // Pings from a page with a download in progress keep this worker alive; nothing to do.
  if (data.type !== 'sealpost-download') {
    return;
  }
  const port = event.ports && event.ports[0];
  if (!port) {
    return;
  }
  if (data.v !== PROTOCOL || typeof data.id !== 'string' || !ID_RE.test(data.id) ||
      typeof data.name !== 'string' || !Number.isSafeInteger(data.size) || data.size < 0) {
    port.postMessage({ type: 'refused', v: PROTOCOL });
    port.close();
    return;
  }
  forgetStale();
  pending.set(data.id, { port, name: data.name, size: data.size, created: Date.now() });
  port.postMessage({ type: 'registered', v: PROTOCOL });
});

/** A header-safe copy of an already sanitised name: no controls, quotes, separators. */
function headerSafe(name) {
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f\/\\"]/g, '_');
  return clean || 'attachment';
}

/** RFC 6266 / RFC 8187: an ASCII fallback and the UTF-8 name. */
function contentDisposition(name) {
  const safe = headerSafe(name);
  const ascii = safe.replace(/[^\x20-\x7e]/g, '_').replace(/[%;]/g, '_');
  const utf8 = encodeURIComponent(safe).replace(/['()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

function streamFromPage(entry) {
  const port = entry.port;
  let waiting = null;
  let finished = false;
  const settle = () => {
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve();
    }
  };
  return new ReadableStream({
    start(controller) {
      port.onmessage = (event) => {
        const m = event.data || {};
        if (finished) {
          return;
        }
        if (m.type === 'chunk' && m.data instanceof ArrayBuffer) {
          controller.enqueue(new Uint8Array(m.data));
        } else if (m.type === 'end') {
          finished = true;
          controller.close();
          port.close();
        } else {
          finished = true;
          controller.error(new Error('The attachment could not be decrypted.'));
          port.close();
        }
        settle();
      };
      port.postMessage({ type: 'started' });
    },
    pull() {
      return new Promise((resolve) => {
        waiting = resolve;
        port.postMessage({ type: 'pull' });
      });
    },
    cancel() {
      finished = true;
      try {
        port.postMessage({ type: 'cancel' });
        port.close();
      } catch (_) {
        /* the page is gone */
      }
      settle();
    },
  }, { highWaterMark: 1 });
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') {
    return;
  }
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname + '_download/')) {
    return;
  }
  const id = url.pathname.slice(scope.pathname.length + '_download/'.length).split('/')[0];
  const entry = pending.get(id);
  if (!entry) {
    // Unknown, expired or already used: 204 leaves the page where it is (its save reports that
    // the download did not start). Without an active worker the request reaches the server,
    // which answers with a page that says to go back.
    event.respondWith(new Response(null, { status: 204, headers: { 'Cache-Control': 'no-store' } }));
    return;
  }
  pending.delete(id);
  const headers = new Headers({
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': contentDisposition(entry.name),
    'Content-Length': String(entry.size),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; sandbox",
    'Referrer-Policy': 'no-referrer',
  });
  event.respondWith(new Response(streamFromPage(entry), { status: 200, headers }));
});
