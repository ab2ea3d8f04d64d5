/* Sealpost recipient page: saving a decrypted attachment without holding it in memory.
 *
 * window.SealpostDownload.save({name, size, mediaType, source, onProgress}) saves the plaintext
 * that `source.next()` yields (Uint8Array chunks, then null once the whole attachment verified;
 * it throws on any failure) and resolves when the browser has all of it. In order of preference:
 *   1. the service worker (sw.js): a streamed download, constant memory, any size;
 *   2. the File System Access API (showSaveFilePicker), where present: written as it arrives,
 *      discarded on failure;
 *   3. a Blob in memory, for attachments up to BLOB_LIMIT bytes.
 * Nothing reaches a file the browser keeps unless the source verified to the end: the service
 * worker stream is errored, the file writer aborted, the Blob never built.
 */
'use strict';

(() => {
  const BLOB_LIMIT = 256 * 1024 * 1024;
  /** Most file systems allow 255 bytes; leave room for the browser's " (1)". */
  const NAME_LIMIT = 240;
  const HANDSHAKE_MS = 5000;
  const START_MS = 30000;
  const PING_MS = 10000;

  class SaveError extends Error {
    constructor(message, kind) {
      super(message);
      this.name = 'SaveError';
      this.kind = kind || 'failed';
    }
  }

  const RESERVED = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$|clock\$)$/i;

  /** A file name safe to save under: no path separators, control or bidirectional-override
   *  characters, characters Windows refuses, leading or trailing dots and spaces, or reserved
   *  device names; at most NAME_LIMIT bytes of UTF-8, keeping the extension. */
  function sanitizeFileName(name) {
    let s = String(name == null ? '' : name).normalize('NFC');
    s = s
      .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
      .replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '')
      .replace(/[/\\:*?"<>|]/g, '_')
      .replace(/^[\s.]+/u, '')
      .replace(/[\s.]+$/u, '');
    const stem = s.split('.')[0].trim();
    if (RESERVED.test(stem)) {
      s = '_' + s;
    }
    const bytes = (text) => new TextEncoder().encode(text).length;
    if (bytes(s) > NAME_LIMIT) {
      const dot = s.lastIndexOf('.');
      const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : '';
      let stemChars = Array.from(ext ? s.slice(0, dot) : s).slice(0, NAME_LIMIT);
      while (stemChars.length > 0 && bytes(stemChars.join('') + ext) > NAME_LIMIT) {
        stemChars = stemChars.slice(0, -1);
      }
      s = (stemChars.join('').replace(/[\s.]+$/u, '') || 'attachment') + ext;
    }
    return s || 'attachment';
  }

  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    let bin = '';
    bytes.forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  /** An ArrayBuffer holding exactly the bytes of `chunk`, safe to transfer. */
  function ownBuffer(chunk) {
    if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
      return chunk.buffer;
    }
    return chunk.slice().buffer;
  }

  function timeout(ms, value) {
    return new Promise((resolve) => setTimeout(() => resolve(value), ms));
  }

  /** The active service worker of this page's scope, or null: none registered (no support,
   *  private browsing, registration refused) or not active in time. */
  async function findWorker() {
    if (!('serviceWorker' in navigator) || !window.isSecureContext) {
      return null;
    }
    let reg;
    try {
      reg = await navigator.serviceWorker.getRegistration();
    } catch (_) {
      return null;
    }
    if (!reg) {
      return null;
    }
    if (reg.active) {
      return reg.active;
    }
    const ready = await Promise.race([navigator.serviceWorker.ready, timeout(HANDSHAKE_MS, null)])
      .catch(() => null);
    return (ready && ready.active) || null;
  }

  function viaServiceWorker(worker, job) {
    return new Promise((resolve, reject) => {
      const channel = new MessageChannel();
      const port = channel.port1;
      const id = randomId();
      let state = 'handshake';
      let ping = null;
      let timer = null;
      let written = 0;

      const done = (err) => {
        if (state === 'done') {
          return;
        }
        const started = state === 'streaming';
        state = 'done';
        clearTimeout(timer);
        clearInterval(ping);
        port.onmessage = null;
        if (err) {
          try { port.postMessage({ type: 'error' }); } catch (_) { /* closed */ }
          try { job.source.cancel(); } catch (_) { /* ignore */ }
          if (err instanceof SaveError) {
            err.started = started;
          }
          reject(err);
        } else {
          resolve();
        }
        try { port.close(); } catch (_) { /* closed */ }
      };

      const pull = async () => {
        try {
          const chunk = await job.source.next();
          if (state === 'done') {
            return;
          }
          if (chunk === null) {
            port.postMessage({ type: 'end' });
            done(null);
            return;
          }
          written += chunk.byteLength;
          const buffer = ownBuffer(chunk);
          port.postMessage({ type: 'chunk', data: buffer }, [buffer]);
          job.onProgress(written);
        } catch (err) {
          done(err);
        }
      };

      port.onmessage = (event) => {
        const m = event.data || {};
        if (m.type === 'registered' && state === 'handshake') {
          state = 'waiting';
          clearTimeout(timer);
          timer = setTimeout(() => done(new SaveError('The download did not start.', 'no-start')), START_MS);
          // A navigation of this page, not an <a download> click: Chromium does not pass
          // download-attribute requests to service workers, and the CSP allows no frames. The
          // worker answers with `Content-Disposition: attachment`, so the page stays.
          window.location.assign(`_download/${id}/${encodeURIComponent(job.name)}`);
        } else if (m.type === 'started' && state === 'waiting') {
          state = 'streaming';
          clearTimeout(timer);
          ping = setInterval(() => {
            try { worker.postMessage({ type: 'ping' }); } catch (_) { /* gone */ }
          }, PING_MS);
        } else if (m.type === 'pull' && state === 'streaming') {
          pull();
        } else if (m.type === 'cancel') {
          done(new SaveError('The download was cancelled.', 'cancelled'));
        } else if (m.type === 'refused' || m.type === 'expired') {
          done(new SaveError('The download could not be prepared.', 'no-start'));
        }
      };
      timer = setTimeout(() => done(new SaveError('The service worker did not answer.', 'no-start')), HANDSHAKE_MS);
      worker.postMessage({ type: 'sealpost-download', v: 1, id, name: job.name, size: job.size }, [channel.port2]);
    });
  }

  async function viaFileSystemAccess(handle, job) {
    const writable = await handle.createWritable();
    let written = 0;
    try {
      for (;;) {
        const chunk = await job.source.next();
        if (chunk === null) {
          break;
        }
        await writable.write(chunk);
        written += chunk.byteLength;
        job.onProgress(written);
      }
    } catch (err) {
      try { await writable.abort(); } catch (_) { /* already closed */ }
      throw err;
    }
    await writable.close();
  }

  async function viaBlob(job) {
    if (job.size > BLOB_LIMIT) {
      throw new SaveError(
        'This attachment is too large to save in this browser. Open the link in a current version of ' +
        'Chrome, Edge, Firefox or Safari, outside private browsing, to save it.', 'too-large');
    }
    const parts = [];
    let written = 0;
    for (;;) {
      const chunk = await job.source.next();
      if (chunk === null) {
        break;
      }
      parts.push(chunk);
      written += chunk.byteLength;
      job.onProgress(written);
    }
    const url = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
    parts.length = 0;
    const a = document.createElement('a');
    a.href = url;
    a.download = job.name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60 * 1000);
  }

  /** Saves one attachment; see the comment at the top. Call it from the click handler: the
   *  File System Access picker needs the user's gesture. `makeSource()` is called once per
   *  attempt (a failed service-worker handshake falls back with a fresh source). */
  async function save(options) {
    const name = sanitizeFileName(options.name);
    const size = options.size;
    const onProgress = options.onProgress || (() => {});
    const worker = await findWorker();
    if (worker) {
      try {
        await viaServiceWorker(worker, { name, size, source: options.makeSource(), onProgress });
        return { name, method: 'service-worker' };
      } catch (err) {
        // Only a worker that never took the download is worth a second way; a download that
        // started and failed failed for a reason that would fail again.
        if (!(err instanceof SaveError) || err.started || err.kind !== 'no-start') {
          throw err;
        }
      }
    } else if (typeof window.showSaveFilePicker === 'function') {
      let handle = null;
      try {
        handle = await window.showSaveFilePicker({ suggestedName: name });
      } catch (err) {
        if (err && err.name === 'AbortError') {
          throw new SaveError('Saving was cancelled.', 'cancelled');
        }
        // No user gesture left, or refused: fall back to a Blob.
      }
      if (handle) {
        await viaFileSystemAccess(handle, { name, size, source: options.makeSource(), onProgress });
        return { name, method: 'file-system-access' };
      }
    }
    await viaBlob({ name, size, source: options.makeSource(), onProgress });
    return { name, method: 'blob' };
  }

  window.SealpostDownload = Object.freeze({ save, sanitizeFileName, SaveError, BLOB_LIMIT });
})();
