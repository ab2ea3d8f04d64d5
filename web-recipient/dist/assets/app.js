/* Sealpost recipient page.
 *
 * Flow (docs/recipient-page.md): read the link secret from the fragment and strip it from the
 * address bar; ask the API about the link; verify (SMS code, or password then TOTP for a
 * registered recipient); fetch the envelope, verify the sender's seal and open this recipient's
 * share in WebAssembly; ask for the server share and check, in WebAssembly, the server's proof
 * that the release is recorded in its access log before using the share ("log before release");
 * decrypt the manifest; show it; save attachments by streaming decryption (download.js).
 *
 * Every piece of message content is written with textContent. No keys, codes or content are
 * stored anywhere: closing the page forgets everything.
 */
'use strict';

(() => {
  // --- 1. The fragment, before anything else: keep the secret in memory, drop it from the URL.
  const ACCESS_ID_RE = /^[A-Za-z0-9_-]{22}$/;
  const LINK_SECRET_RE = /^[A-Za-z0-9_-]{43}$/;
  const RANGE_BYTES = 4 * 1024 * 1024;
  const FETCH_ATTEMPTS = 3;

  const fragment = location.hash.length > 1 ? location.hash.slice(1) : '';
  if (location.hash || location.href.endsWith('#')) {
    history.replaceState(history.state, '', location.pathname + location.search);
  }
  const accessId = (() => {
    const last = location.pathname.split('/').pop() || '';
    try {
      return decodeURIComponent(last);
    } catch (_) {
      return '';
    }
  })();

  const page = {
    linkSecret: fragment,
    info: null,
    logKey: null,
    session: null,
    stage: null,
    passwordKeys: null,
    recipientKeys: null,
    envelope: null,
    message: null,
    manifest: null,
    saving: false,
    resendTimer: null,
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    state: $('state'),
    views: {
      loading: $('view-loading'),
      verify: $('view-verify'),
      opened: $('view-opened'),
      ended: $('view-ended'),
    },
    verifyTitle: $('verify-title'),
    verifyIntro: $('verify-intro'),
    smsStep: $('sms-step'),
    phoneHint: $('phone-hint'),
    sendCode: $('send-code'),
    passwordForm: $('password-form'),
    password: $('password'),
    login: $('login'),
    codeForm: $('code-form'),
    codeLabel: $('code-label'),
    code: $('code'),
    codeHelp: $('code-help'),
    verify: $('verify'),
    subject: $('subject'),
    sender: $('sender'),
    expires: $('expires'),
    body: $('body'),
    attachmentsSection: $('attachments-section'),
    attachments: $('attachments'),
    template: $('attachment-template'),
    saveStatus: $('save-status'),
    endedTitle: $('ended-title'),
    endedText: $('ended-text'),
    error: $('error'),
    status: $('status'),
  };

  // --- 2. Showing states.

  const VIEW_OF = {
    loading: 'loading',
    verify: 'verify',
    'code-sent': 'verify',
    'wrong-code': 'verify',
    opened: 'opened',
    locked: 'ended',
    unknown: 'ended',
    error: 'ended',
  };

  const ENDED = {
    // The server answers a withdrawn, expired or deleted message exactly like a link that never
    // existed (docs/api.md, Indistinguishability), so the page cannot and does not say which.
    unknown: ['This link cannot be opened',
      'The sender may have withdrawn the message, it may have expired, or the link may be ' +
      'incomplete. Check that you opened the whole link from the message you received; ' +
      'otherwise ask the sender to send the message again.'],
    locked: ['This message is locked',
      'Too many wrong codes were entered, so the message was locked to protect it. The sender ' +
      'can see this; ask them to send it again.'],
    error: ['Something went wrong',
      'The message could not be opened. Reload the page to try again.'],
  };

  /** Sets #state's data-state and shows its view; moves focus to the view's heading when the
   *  view changes (or to `focus` if given). */
  function setState(name, focus) {
    const view = VIEW_OF[name];
    const previous = VIEW_OF[ui.state.dataset.state];
    ui.state.dataset.state = name;
    ui.state.setAttribute('aria-busy', name === 'loading' ? 'true' : 'false');
    for (const [key, section] of Object.entries(ui.views)) {
      section.hidden = key !== view;
    }
    const target = focus || (view !== previous ? ui.views[view].querySelector('h1') : null);
    if (target) {
      target.focus();
    }
  }

  function showError(text) {
    ui.error.textContent = text || '';
  }

  function setStatus(text) {
    ui.status.textContent = text || '';
  }

  function showEnded(kind, detail) {
    const [title, text] = ENDED[kind] || ENDED.error;
    ui.endedTitle.textContent = title;
    ui.endedText.textContent = detail || text;
    showError('');
    setStatus('');
    setState(kind in ENDED ? kind : 'error');
    forgetSecrets();
  }

  function forgetSecrets() {
    page.linkSecret = null;
    for (const key of ['passwordKeys', 'recipientKeys']) {
      if (page[key]) {
        page[key].free();
        page[key] = null;
      }
    }
  }

  // --- 3. Talking to the API.

  class ApiProblem extends Error {
    constructor(status, body, headers) {
      super((body && (body.detail || body.title)) || `The server answered ${status}.`);
      this.name = 'ApiProblem';
      this.status = status;
      this.code = (body && typeof body.code === 'string') ? body.code : '';
      this.body = body || {};
      const retry = Number.parseInt(headers.get('Retry-After') || '', 10);
      this.retryAfter = Number.isFinite(retry) ? retry : null;
    }
  }

  class NetworkError extends Error {
    constructor() {
      super('Could not reach the server. Check your connection and try again.');
      this.name = 'NetworkError';
    }
  }

  /** Message content or keys did not verify: the server or the link is not what it claims. */
  class IntegrityError extends Error {
    constructor(message) {
      super(message);
      this.name = 'IntegrityError';
    }
  }

  function apiUrl(path) {
    const suffix = path ? `/${path}` : '';
    return new URL(`../api/v1/access/${encodeURIComponent(accessId)}${suffix}`, location.href).href;
  }

  async function api(method, path, options) {
    const opts = options || {};
    const headers = { Accept: 'application/json' };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    if (opts.session) {
      headers.Authorization = `Bearer ${opts.session}`;
    }
    let response;
    try {
      response = await fetch(apiUrl(path), {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        cache: 'no-store',
        credentials: 'same-origin',
        redirect: 'error',
        referrerPolicy: 'no-referrer',
      });
    } catch (_) {
      throw new NetworkError();
    }
    if (response.ok) {
      if (response.status === 204) {
        return null;
      }
      try {
        return await response.json();
      } catch (_) {
        throw new NetworkError();
      }
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    throw new ApiProblem(response.status, body, response.headers);
  }

  const NOT_LOGGED = 'The server did not prove that this opening was recorded. The message was not opened. Tell the sender.';

  /**
   * Log before release: a released share counts only with a proof that the release is in the
   * access log, checked in WebAssembly against the log key pinned at page load (page.logKey):
   * the checkpoint is signed by that key, the leaf is in its tree (inclusion proof), and the leaf
   * is the `share.released` entry of this message (the sealed message id) and of this recipient
   * (the recipient id of the share opened from the sealed header). Throws an IntegrityError
   * otherwise; the share must then not be used.
   */
  function checkReleaseLogged(released, messageId, rid) {
    const log = released && released.log;
    if (!page.logKey || !log || typeof log.checkpoint !== 'string' || typeof log.leaf !== 'string' ||
        !Number.isSafeInteger(log.index) || log.index < 0 || !Array.isArray(log.proof) ||
        !log.proof.every((hash) => typeof hash === 'string')) {
      throw new IntegrityError(NOT_LOGGED);
    }
    try {
      wasm_bindgen.verify_release(page.logKey, log.checkpoint, log.index, log.leaf, log.proof, messageId, rid);
    } catch (_) {
      throw new IntegrityError(NOT_LOGGED);
    }
  }

  /** Standard base64 (the API's alphabet, padding optional) to bytes. */
  function fromBase64(text) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
      throw new IntegrityError('The server sent malformed data.');
    }
    const bare = text.replace(/=+$/, '');
    const binary = atob(bare + '='.repeat((4 - (bare.length % 4)) % 4));
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) {
      out[i] = binary.charCodeAt(i);
    }
    return out;
  }

  function attemptsText(problem) {
    const left = problem.body && problem.body.attempts_left;
    if (!Number.isInteger(left)) {
      return '';
    }
    return left === 1 ? ' You have 1 attempt left.' : ` You have ${left} attempts left.`;
  }

  /** Maps an error to a page state or a message next to the form. */
  function handleProblem(err, where) {
    setStatus('');
    if (err instanceof ApiProblem) {
      switch (err.code) {
        case 'unknown_link':
          return showEnded('unknown');
        case 'locked':
          return showEnded('locked');
        case 'open_limit':
          return showEnded('error', 'This message has been opened as many times as the sender allowed.');
        case 'wrong_code':
          if (err.body && err.body.attempts_left === 0) {
            // The last attempt: the link may be locked now; the API says which.
            recheckLink();
          }
          showError(`That code is not right.${attemptsText(err)} Check it and try again.`);
          setState('wrong-code', ui.code);
          ui.code.setAttribute('aria-invalid', 'true');
          ui.code.select();
          return undefined;
        case 'code_expired':
          showError('That code has expired. Send a new code and enter it.');
          ui.code.value = '';
          setState('verify', ui.sendCode);
          return undefined;
        case 'no_code':
          showError('Send a code first, then enter it.');
          setState('verify', ui.sendCode);
          return undefined;
        case 'resend_too_soon':
          showError(`A code was sent a moment ago. You can ask for another in ${err.retryAfter || 60} seconds.`);
          return undefined;
        case 'sms_limit':
          showError('No more codes can be sent for this message for now. Use the last code you received, or try again later.');
          return undefined;
        case 'sms_failed':
          showError('We could not send the text message. Please try again in a few minutes.');
          return undefined;
        case 'wrong_password':
          showError(`That password is not right.${attemptsText(err)}`);
          ui.password.setAttribute('aria-invalid', 'true');
          ui.password.focus();
          return undefined;
        case 'unauthenticated':
          if (where === 'verify' && page.info && page.info.verification === 'totp') {
            showError('Your sign-in has timed out. Enter your password again.');
            showPasswordStep();
            return undefined;
          }
          return showEnded('error', 'Your session has ended. Reload the page and verify again to open the message.');
        default:
          break;
      }
      if (err.status === 429) {
        showError('Too many attempts in a short time. Please wait a minute and try again.');
        return undefined;
      }
      if (err.status >= 500 && where !== 'start') {
        showError('The server could not complete this. Please try again in a few minutes.');
        return undefined;
      }
      return showEnded('error', `The message could not be opened (${err.message})`);
    }
    if (err instanceof NetworkError) {
      if (where === 'start' || where === 'open') {
        return showEnded('error', err.message);
      }
      showError(err.message);
      return undefined;
    }
    if (err instanceof IntegrityError) {
      return showEnded('error', err.message);
    }
    return showEnded('error');
  }

  /** Asks the API about the link again and shows its end page if it has ended. */
  async function recheckLink() {
    try {
      const info = await api('GET', '');
      if (info.state === 'locked') {
        showEnded('locked');
      }
    } catch (err) {
      if (err instanceof ApiProblem && err.code === 'unknown_link') {
        showEnded('unknown');
      }
    }
  }

  // --- 4. WebAssembly and the service worker, loaded while the API answers.

  function loadWasm() {
    const meta = (name) => {
      const el = document.querySelector(`meta[name="${name}"]`);
      return el ? el.getAttribute('content') : '';
    };
    if (typeof wasm_bindgen !== 'function' || typeof WebAssembly !== 'object') {
      return Promise.reject(new Error('no WebAssembly'));
    }
    const url = new URL(meta('sealpost-wasm'), document.baseURI).href;
    const integrity = meta('sealpost-wasm-integrity');
    const response = fetch(url, { integrity, cache: 'default', credentials: 'same-origin' });
    return wasm_bindgen({ module_or_path: response });
  }

  function registerServiceWorker() {
    if (!('serviceWorker' in navigator) || !window.isSecureContext) {
      return;
    }
    navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {
      // Private browsing and some settings refuse workers; saving falls back (download.js).
    });
  }

  // --- 5. Verification.

  function nextPaint() {
    return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute('aria-disabled', on ? 'true' : 'false');
  }

  function showSmsStep() {
    const info = page.info;
    ui.verifyTitle.textContent = 'Check it is you';
    ui.verifyIntro.textContent = 'To open this secure message, confirm it was sent to you with a code we text to your phone.';
    ui.phoneHint.textContent = info.phone_hint || '';
    ui.smsStep.querySelector('.digits').textContent = String(info.code_digits || 6);
    ui.smsStep.hidden = false;
    ui.passwordForm.hidden = true;
    ui.codeForm.hidden = true;
    ui.codeLabel.textContent = 'Enter the code from the text message';
    setState('verify');
  }

  function showPasswordStep() {
    ui.verifyTitle.textContent = 'Sign in to open your message';
    ui.verifyIntro.textContent = 'This message was sent to your Sealpost account. Enter your password, then the code from your authenticator app.';
    ui.smsStep.hidden = true;
    ui.codeForm.hidden = true;
    ui.passwordForm.hidden = false;
    page.session = null;
    page.stage = null;
    setState('verify');
  }

  function showCodeForm(helpText, stateName) {
    ui.codeForm.hidden = false;
    ui.code.value = '';
    ui.code.removeAttribute('aria-invalid');
    ui.codeHelp.textContent = helpText;
    setState(stateName || 'code-sent', ui.code);
  }

  function scheduleResend(resendAfter) {
    clearTimeout(page.resendTimer);
    const at = Date.parse(resendAfter || '');
    const wait = Number.isFinite(at) ? Math.max(0, at - Date.now()) : 30000;
    busy(ui.sendCode, true);
    page.resendTimer = setTimeout(() => busy(ui.sendCode, false), Math.min(wait, 10 * 60 * 1000));
  }

  function formatTime(iso) {
    const t = Date.parse(iso || '');
    if (!Number.isFinite(t)) {
      return '';
    }
    try {
      return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    } catch (_) {
      return new Date(t).toLocaleString();
    }
  }

  async function onSendCode() {
    if (ui.sendCode.disabled) {
      return;
    }
    showError('');
    busy(ui.sendCode, true);
    setStatus('Sending a code…');
    try {
      const sent = await api('POST', 'code', { body: {} });
      setStatus('');
      ui.sendCode.textContent = 'Send a new code';
      scheduleResend(sent.resend_after);
      const until = formatTime(sent.expires_at);
      showCodeForm(`We sent a code to ${sent.sent_to || page.info.phone_hint || 'your phone'}.` +
        (until ? ` It works until ${until}.` : ''));
    } catch (err) {
      busy(ui.sendCode, false);
      handleProblem(err, 'code');
    }
  }

  async function onLogin(event) {
    event.preventDefault();
    if (ui.login.disabled) {
      return;
    }
    const password = ui.password.value;
    if (!password) {
      showError('Enter your password.');
      ui.password.setAttribute('aria-invalid', 'true');
      ui.password.focus();
      return;
    }
    showError('');
    ui.password.removeAttribute('aria-invalid');
    busy(ui.login, true);
    setStatus('Checking your password. This can take a few seconds…');
    try {
      const pre = await api('GET', 'prelogin');
      await nextPaint();
      let keys;
      try {
        keys = wasm_bindgen.derive_password_keys(JSON.stringify(pre.kdf), password);
      } catch (_) {
        throw new IntegrityError('Your account\u2019s key settings are not acceptable to this page. Contact the sender.');
      }
      if (page.passwordKeys) {
        page.passwordKeys.free();
      }
      page.passwordKeys = keys;
      const login = await api('POST', 'login', { body: { login_key: keys.login_key() } });
      page.session = login.session;
      page.stage = login.stage;
      ui.password.value = '';
      setStatus('');
      ui.passwordForm.hidden = true;
      ui.codeLabel.textContent = 'Enter the code from your authenticator app';
      showCodeForm('Use the 6-digit code your authenticator app shows now, or one of your recovery codes.');
    } catch (err) {
      handleProblem(err, 'login');
    } finally {
      busy(ui.login, false);
      if (ui.state.dataset.state === 'verify' && !ui.passwordForm.hidden) {
        setStatus('');
      }
    }
  }

  async function onVerify(event) {
    event.preventDefault();
    if (ui.verify.disabled) {
      return;
    }
    const totp = page.info.verification === 'totp';
    const code = ui.code.value.replace(/[\s-]/g, '');
    const digits = page.info.code_digits || 6;
    const valid = totp ? code.length > 0 && code.length <= 64 : new RegExp(`^[0-9]{${digits}}$`).test(code);
    if (!valid) {
      showError(totp ? 'Enter the code from your authenticator app.' : `Enter the ${digits}-digit code from the text message.`);
      ui.code.setAttribute('aria-invalid', 'true');
      ui.code.focus();
      return;
    }
    showError('');
    busy(ui.verify, true);
    setStatus('Checking the code…');
    try {
      const verified = await api('POST', 'verify', { body: { code }, session: totp ? page.session : undefined });
      page.session = verified.session;
      page.stage = verified.stage;
      ui.code.value = '';
      await openMessage();
    } catch (err) {
      handleProblem(err, page.stage === 'verified' ? 'open' : 'verify');
    } finally {
      busy(ui.verify, false);
    }
  }

  // --- 6. Opening the message.

  async function fetchWholePayload(index) {
    let response;
    try {
      response = await fetch(apiUrl(`payloads/${index}`), {
        headers: { Authorization: `Bearer ${page.session}` },
        cache: 'no-store',
        credentials: 'same-origin',
        redirect: 'error',
        referrerPolicy: 'no-referrer',
      });
    } catch (_) {
      throw new NetworkError();
    }
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (_) { body = null; }
      throw new ApiProblem(response.status, body, response.headers);
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  async function openMessage() {
    setStatus('Decrypting your message…');
    const env = await api('GET', 'envelope', { session: page.session });
    if (env.message_id !== page.info.message_id) {
      throw new IntegrityError('The server sent another message than this link names.');
    }
    let envelope;
    try {
      envelope = wasm_bindgen.verify_envelope(env.message_id, fromBase64(env.header), env.seal,
        fromBase64(env.sender && env.sender.ed25519_pk));
    } catch (_) {
      throw new IntegrityError('The message failed its integrity check: it is not exactly what the sender sent. Do not trust it; tell the sender.');
    }
    if (!envelope.policy_matches(new TextEncoder().encode(env.policy || ''))) {
      envelope.free();
      throw new IntegrityError('The message settings were changed after the sender sealed it. Tell the sender.');
    }
    page.envelope = envelope;
    let share;
    try {
      if (page.info.verification === 'totp') {
        if (!page.recipientKeys) {
          const blob = await api('GET', 'keyblob', { session: page.session });
          page.recipientKeys = page.passwordKeys.open_keyblob(JSON.stringify(blob));
          page.passwordKeys.free();
          page.passwordKeys = null;
        }
        share = envelope.open_share_with_keys(page.recipientKeys);
      } else {
        share = envelope.open_share(page.linkSecret);
      }
    } catch (err) {
      if (err instanceof ApiProblem || err instanceof NetworkError) {
        throw err;
      }
      throw new IntegrityError('This message was not encrypted to this link. Check that you opened the whole link you were sent.');
    }
    let message;
    try {
      const released = await api('POST', 'release', { body: {}, session: page.session });
      // Before the share is touched: the release must be proven to be in the access log.
      checkReleaseLogged(released, env.message_id, share.rid_text());
      const serverShare = fromBase64(released.share);
      try {
        message = envelope.unlock(share, serverShare);
      } catch (_) {
        throw new IntegrityError('The message could not be decrypted. Tell the sender.');
      } finally {
        serverShare.fill(0);
      }
    } finally {
      share.free();
    }
    page.message = message;
    forgetSecrets();
    const manifestBytes = await fetchWholePayload(0);
    let manifest;
    try {
      manifest = JSON.parse(message.manifest(manifestBytes));
    } catch (_) {
      throw new IntegrityError('The message failed its integrity check. Tell the sender.');
    }
    page.manifest = manifest;
    showMessage(env, manifest);
  }

  function formatSize(bytes) {
    if (bytes < 1024) {
      return bytes === 1 ? '1 byte' : `${bytes} bytes`;
    }
    const units = ['KB', 'MB', 'GB', 'TB'];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
  }

  function showMessage(env, manifest) {
    setStatus('');
    showError('');
    ui.subject.textContent = manifest.subject || '(no subject)';
    ui.sender.textContent = (env.sender && env.sender.address) || '';
    ui.expires.textContent = formatTime(env.expires_at || page.info.expires_at);
    ui.body.textContent = manifest.body || '';
    ui.attachments.replaceChildren();
    manifest.attachments.forEach((attachment, index) => {
      const item = ui.template.content.firstElementChild.cloneNode(true);
      item.dataset.index = String(index);
      const name = window.SealpostDownload.sanitizeFileName(attachment.name);
      item.querySelector('.name').textContent = attachment.name;
      item.querySelector('.size').textContent = formatSize(attachment.size);
      const button = item.querySelector('button.save');
      button.dataset.index = String(index);
      button.setAttribute('aria-label', `Save ${name} (${formatSize(attachment.size)})`);
      button.addEventListener('click', () => saveAttachment(index));
      ui.attachments.appendChild(item);
    });
    ui.attachmentsSection.hidden = manifest.attachments.length === 0;
    setState('opened');
  }

  // --- 7. Saving attachments: ranges of ciphertext through the streaming decryptor.

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function fetchRange(payloadIndex, start, end, signal) {
    let lastError = null;
    for (let attempt = 0; attempt < FETCH_ATTEMPTS; attempt += 1) {
      if (attempt > 0) {
        await sleep(1000 * attempt);
      }
      let response;
      try {
        response = await fetch(apiUrl(`payloads/${payloadIndex}`), {
          headers: { Authorization: `Bearer ${page.session}`, Range: `bytes=${start}-${end - 1}` },
          cache: 'no-store',
          credentials: 'same-origin',
          redirect: 'error',
          referrerPolicy: 'no-referrer',
          signal,
        });
      } catch (err) {
        if (signal.aborted) {
          throw err;
        }
        lastError = new NetworkError();
        continue;
      }
      if (response.status === 206 || (response.status === 200 && start === 0)) {
        let bytes;
        try {
          bytes = new Uint8Array(await response.arrayBuffer());
        } catch (err) {
          if (signal.aborted) {
            throw err;
          }
          lastError = new NetworkError();
          continue;
        }
        // A 200 is the whole payload; the decryptor refuses it if it is not.
        if (response.status === 206 && bytes.length !== end - start) {
          lastError = new NetworkError();
          continue;
        }
        return bytes;
      }
      let body = null;
      try { body = await response.json(); } catch (_) { body = null; }
      lastError = new ApiProblem(response.status, body, response.headers);
      if (response.status < 500) {
        break;
      }
    }
    throw lastError;
  }

  /** The verified plaintext of payload `payloadIndex`, chunk by chunk: next() resolves to a
   *  Uint8Array, or null once everything arrived and `finish` verified the whole payload. The
   *  last plaintext is held back until then. One range is fetched ahead of the decryptor. */
  function payloadSource(payloadIndex) {
    const stream = page.message.payload_stream(payloadIndex);
    const total = stream.payload_length();
    const controller = new AbortController();
    let offset = 0;
    let ahead = null;
    let held = null;
    let ended = false;

    const startFetch = () => {
      if (offset >= total) {
        return null;
      }
      const end = Math.min(offset + RANGE_BYTES, total);
      const promise = fetchRange(payloadIndex, offset, end, controller.signal);
      promise.catch(() => {});
      return promise;
    };

    const end = () => {
      if (!ended) {
        ended = true;
        controller.abort();
        stream.free();
      }
    };

    return {
      async next() {
        if (ended) {
          return null;
        }
        try {
          for (;;) {
            if (offset >= total) {
              stream.finish();
              end();
              const last = held;
              held = null;
              return last && last.length > 0 ? last : null;
            }
            const bytes = await (ahead || startFetch());
            offset += bytes.length;
            ahead = startFetch();
            const plaintext = stream.push(bytes);
            if (offset >= total) {
              held = plaintext;
            } else if (plaintext.length > 0) {
              return plaintext;
            }
          }
        } catch (err) {
          end();
          if (err instanceof ApiProblem || err instanceof NetworkError) {
            throw err;
          }
          throw new IntegrityError('decryption failed');
        }
      },
      cancel() {
        end();
      },
    };
  }

  function setSaveStatus(text, done) {
    ui.saveStatus.textContent = text;
    if (done) {
      ui.saveStatus.dataset.done = 'true';
    } else {
      delete ui.saveStatus.dataset.done;
    }
  }

  function saveButtons(disabled) {
    ui.attachments.querySelectorAll('button.save').forEach((b) => busy(b, disabled));
  }

  function saveErrorText(err, name) {
    if (err instanceof IntegrityError) {
      return `${name} failed its integrity check and was not saved: it is not exactly what the sender sent. Tell the sender.`;
    }
    if (err instanceof ApiProblem) {
      if (err.code === 'unauthenticated' || err.status === 401) {
        return `Your session has ended, so ${name} was not saved. Reload the page and verify again to save it.`;
      }
      if (err.code === 'unknown_link') {
        return `The message can no longer be opened (withdrawn or expired), so ${name} was not saved.`;
      }
      return `${name} was not saved: ${err.message}`;
    }
    if (err instanceof NetworkError) {
      return `${name} was not saved: the connection to the server failed. Try again.`;
    }
    if (err instanceof window.SealpostDownload.SaveError) {
      return `${name} was not saved. ${err.message}`;
    }
    return `${name} was not saved. Try again.`;
  }

  async function saveAttachment(index) {
    if (page.saving || !page.message) {
      return;
    }
    const attachment = page.manifest.attachments[index];
    const name = window.SealpostDownload.sanitizeFileName(attachment.name);
    page.saving = true;
    saveButtons(true);
    setSaveStatus(`Saving ${name}…`, false);
    const size = attachment.size;
    let lastShown = 0;
    try {
      const result = await window.SealpostDownload.save({
        name: attachment.name,
        size,
        makeSource: () => payloadSource(index + 1),
        onProgress: (written) => {
          const percent = size > 0 ? Math.floor((written * 100) / size) : 100;
          if (percent >= lastShown + 10 && percent < 100) {
            lastShown = percent - (percent % 10);
            setSaveStatus(`Saving ${name}… ${lastShown}%`, false);
          }
        },
      });
      ui.saveStatus.dataset.method = result.method;
      setSaveStatus(`Saved ${name} (${formatSize(size)}). It is in your downloads.`, true);
    } catch (err) {
      setSaveStatus(saveErrorText(err, name), false);
      showError(saveErrorText(err, name));
    } finally {
      page.saving = false;
      saveButtons(false);
    }
  }

  // --- 8. Start.

  async function start() {
    ui.sendCode.addEventListener('click', onSendCode);
    ui.passwordForm.addEventListener('submit', onLogin);
    ui.codeForm.addEventListener('submit', onVerify);
    ui.code.addEventListener('input', () => ui.code.removeAttribute('aria-invalid'));

    if (!ACCESS_ID_RE.test(accessId)) {
      showEnded('unknown');
      return;
    }
    registerServiceWorker();
    const wasm = loadWasm();
    wasm.catch(() => {});
    let info;
    try {
      info = await api('GET', '');
    } catch (err) {
      handleProblem(err, 'start');
      return;
    }
    page.info = info;
    // Pin the access log's key now, once: every release proof is checked against this key. The
    // page itself comes from the same server, so this pin protects against a server that skips
    // or hides logging a release, not against a server that replaces the page; the CLI pins the
    // log key independently of the server.
    page.logKey = typeof info.log_key === 'string' ? info.log_key : null;
    if (info.state !== 'active') {
      if (info.state === 'locked') {
        showEnded('locked');
      } else {
        showEnded('error', 'This message is not available. Contact the sender if you still need it.');
      }
      return;
    }
    try {
      await wasm;
    } catch (_) {
      showEnded('error', 'This browser cannot decrypt the message. Open the link in a current version of Chrome, Edge, Firefox or Safari.');
      return;
    }
    // Without a usable log key no release could be checked: stop before anything is released.
    try {
      wasm_bindgen.check_log_key(page.logKey || '');
    } catch (_) {
      showEnded('error', 'The server did not send a valid key for its access log, so this page cannot check that opening the message is recorded. The message was not opened. Tell the sender.');
      return;
    }
    if (info.verification === 'totp') {
      showPasswordStep();
    } else if (info.verification === 'sms') {
      if (!LINK_SECRET_RE.test(page.linkSecret || '')) {
        showEnded('error', 'This link is incomplete: the part after the # is missing or damaged. Open the whole link from the message you received.');
        return;
      }
      showSmsStep();
    } else {
      showEnded('error');
    }
  }

  start().catch(() => showEnded('error'));
})();
