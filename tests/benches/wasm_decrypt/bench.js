// The browser half of tests/benches/wasm_decrypt.rs: times the recipient page's WebAssembly
// streaming decryptor (`UnlockedMessage.payload_stream`, `PayloadStream.push` / `finish` of
// web-recipient/src/lib.rs) in 4 MiB pieces, as web-recipient/www/app.js drives it.
//
// Loaded by the bench's own page (bench.html) and injected by WebDriver into the real server's
// recipient page. Defines `window.sealpostBench`; every function resolves to plain JSON.
(() => {
  'use strict';

  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

  // Seal, header, link key and server share to an unlocked message handle: the page's
  // verify_envelope -> open_share -> unlock. Never timed.
  function unlock(m) {
    const envelope = wasm_bindgen.verify_envelope(m.msg_id, fromBase64(m.header), m.seal,
      fromBase64(m.sender_public));
    try {
      const share = envelope.open_share(m.link_secret);
      try {
        return envelope.unlock(share, fromBase64(m.server_share));
      } finally {
        share.free();
      }
    } finally {
      envelope.free();
    }
  }

  // What a timed pass hands back besides its times: the plaintext length and its first and
  // last 32 bytes, for the bench to compare with the native decryption.
  function summary(plaintext, first, last) {
    return {
      plaintext_len: plaintext,
      head_hex: first ? hex(first.subarray(0, 32)) : '',
      tail_hex: last ? hex(last.subarray(Math.max(0, last.length - 32))) : '',
    };
  }

  // One verified streaming decryption of `bytes` (the whole payload, already in memory) in
  // pieces of `piece` bytes; the plaintext is dropped as it comes out.
  function decryptInMemory(message, index, bytes, piece) {
    let plaintext = 0;
    let first = null;
    let last = null;
    const t0 = performance.now();
    const stream = message.payload_stream(index);
    try {
      for (let at = 0; at < bytes.length; at += piece) {
        const out = stream.push(bytes.subarray(at, Math.min(at + piece, bytes.length)));
        if (out.length > 0) {
          plaintext += out.length;
          if (first === null) {
            first = out.slice(0, 32);
          }
          last = out;
        }
      }
      stream.finish();
    } finally {
      stream.free();
    }
    const ms = performance.now() - t0;
    return Object.assign({ ms }, summary(plaintext, first, last));
  }

  // Case "in memory": load the wasm, fetch the whole payload (not timed), unlock (not timed),
  // then time `passes` decryptions of it in this page.
  async function inMemory(args) {
    await wasm_bindgen({ module_or_path: args.wasm_url });
    const f0 = performance.now();
    const response = await fetch(args.payload_url, { cache: 'no-store' });
    if (!response.ok) {
      throw new Error(`${args.payload_url}: HTTP ${response.status}`);
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const fetchMs = performance.now() - f0;
    const message = unlock(args.material);
    try {
      const passes = [];
      for (let i = 0; i < args.passes; i += 1) {
        passes.push(decryptInMemory(message, args.index, bytes, args.piece));
      }
      return { fetch_ms: fetchMs, payload_len: bytes.length, passes };
    } finally {
      message.free();
    }
  }

  // Case "from the server": the page's own loop (app.js `payloadSource`): 4 MiB `Range`
  // requests to `/api/v1/access/{access_id}/payloads/{index}` with the session, one range
  // fetched ahead of the decryptor. Timed from the first request to a successful `finish`.
  async function fromServer(args) {
    await wasm_bindgen();
    const message = unlock(args.material);
    const fetchRange = async (start, end) => {
      const response = await fetch(args.url, {
        headers: { Authorization: `Bearer ${args.session}`, Range: `bytes=${start}-${end - 1}` },
        cache: 'no-store',
        credentials: 'same-origin',
        redirect: 'error',
        referrerPolicy: 'no-referrer',
      });
      if (response.status !== 206) {
        throw new Error(`range ${start}-${end - 1}: HTTP ${response.status}`);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length !== end - start) {
        throw new Error(`range ${start}-${end - 1}: ${bytes.length} bytes`);
      }
      return bytes;
    };
    let plaintext = 0;
    let first = null;
    let last = null;
    let pushMs = 0;
    let waitMs = 0;
    let requests = 0;
    const t0 = performance.now();
    const stream = message.payload_stream(args.index);
    try {
      const total = stream.payload_length();
      let next = 0;
      const startFetch = () => {
        if (next >= total) {
          return null;
        }
        const start = next;
        next = Math.min(start + args.piece, total);
        requests += 1;
        const promise = fetchRange(start, next);
        promise.catch(() => {});
        return promise;
      };
      let ahead = startFetch();
      while (ahead !== null) {
        const w0 = performance.now();
        const bytes = await ahead;
        waitMs += performance.now() - w0;
        ahead = startFetch();
        const p0 = performance.now();
        const out = stream.push(bytes);
        pushMs += performance.now() - p0;
        if (out.length > 0) {
          plaintext += out.length;
          if (first === null) {
            first = out.slice(0, 32);
          }
          last = out;
        }
      }
      stream.finish();
    } finally {
      stream.free();
      message.free();
    }
    const ms = performance.now() - t0;
    return Object.assign({ ms, push_ms: pushMs, wait_ms: waitMs, requests },
      summary(plaintext, first, last));
  }

  // `done` is WebDriver's callback (the last argument of an asynchronous script).
  function run(kind, args, done) {
    const work = kind === 'memory' ? inMemory(args) : fromServer(args);
    work.then((result) => done({ ok: result }),
      (err) => done({ error: String((err && err.stack) || err) }));
  }

  Object.defineProperty(window, 'sealpostBench', { value: { run }, configurable: true });
})();
