// The DPO's breach-register page. Plain script, no dependencies. Every text from the server
// goes into the page with textContent, never as markup. The API token lives in sessionStorage
// (this tab only) and goes to the API as a Bearer token; nothing else is stored.
'use strict';

(() => {
  const TOKEN_KEY = 'sealpost-dpo-token';
  const ID_RE = /^[A-Za-z0-9_-]{22}$/;
  const OUTCOMES = {
    record_only: 'Record only (no notification)',
    notify_authority: 'Notify the supervisory authority',
    notify_authority_and_individuals: 'Notify the authority and inform the people affected',
  };

  const $ = (id) => document.getElementById(id);
  let current = null; // the incident shown in the detail view
  let ticker = null;

  // ---------------------------------------------------------------- small helpers

  function setState(state, text) {
    const el = $('state');
    el.dataset.state = state;
    el.textContent = text || '';
  }

  function show(view) {
    for (const id of ['sign-in-view', 'list-view', 'detail-view']) {
      $(id).hidden = id !== view;
    }
    $('sign-out').hidden = view === 'sign-in-view';
  }

  function message(id, text, isError) {
    const el = $(id);
    el.textContent = text || '';
    el.hidden = !text;
    el.classList.toggle('error', Boolean(isError));
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text == null ? '' : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function item(list, text) {
    const li = document.createElement('li');
    li.textContent = text;
    list.appendChild(li);
    return li;
  }

  function words(value) {
    return value == null ? '—' : String(value).replace(/_/g, ' ');
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  /** An RFC 3339 time as `2026-11-26 10:00 UTC`. */
  function when(text) {
    if (!text) return '—';
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) return String(text);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
  }

  /** `47:12:03 left`, or `overdue by 3:05:00`. */
  function countdownText(ms) {
    const total = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const span = `${h}:${pad(m)}:${pad(s)}`;
    return ms >= 0 ? `${span} left` : `overdue by ${span}`;
  }

  /** Marks `el` as a live countdown to the deadline the server counted (`remaining_seconds`),
   * measured on this machine's monotonic clock so a wrong local clock does not matter. */
  function countdown(el, remainingSeconds, state) {
    el.classList.add('countdown');
    if (state === 'closed' || typeof remainingSeconds !== 'number') {
      delete el.dataset.deadline;
      el.textContent = state === 'closed' ? 'closed' : '—';
      el.classList.remove('overdue');
      return;
    }
    el.dataset.deadline = String(performance.now() + remainingSeconds * 1000);
    update(el, performance.now());
  }

  function update(el, now) {
    const ms = Number(el.dataset.deadline) - now;
    el.textContent = countdownText(ms);
    el.classList.toggle('overdue', ms < 0);
  }

  function tick() {
    const now = performance.now();
    for (const el of document.querySelectorAll('.countdown[data-deadline]')) update(el, now);
  }

  // ---------------------------------------------------------------- the API

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${token()}` };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'The server could not be reached; check the connection and try again.');
    }
    if (!response.ok) {
      let problem = {};
      try {
        problem = await response.json();
      } catch (e) {
        problem = {};
      }
      const detail = typeof problem.detail === 'string' && problem.detail
        ? problem.detail
        : `The server answered ${response.status}.`;
      throw new ApiError(response.status, problem.code || `http_${response.status}`, detail);
    }
    return response;
  }

  async function apiJson(method, path, body) {
    const response = await api(method, path, body);
    return response.json();
  }

  function incidentPath(id, rest) {
    return `/api/v1/incidents/${encodeURIComponent(id)}${rest || ''}`;
  }

  function sentence(e) {
    if (!(e instanceof ApiError)) return `Something went wrong: ${e && e.message ? e.message : e}`;
    if (e.status === 401) return 'The server did not accept this token (unknown, revoked or expired). Sign in again.';
    if (e.status === 409) return `${e.message} The incident changed meanwhile: it has been reloaded, check and try again.`;
    return e.message;
  }

  // ---------------------------------------------------------------- sign-in

  function signOut(error) {
    sessionStorage.removeItem(TOKEN_KEY);
    current = null;
    $('signed-in-as').textContent = '';
    show('sign-in-view');
    message('sign-in-error', error || '', true);
    setState(error ? 'signed-out-error' : 'signed-out', error ? 'Not signed in.' : 'Sign in to see the register.');
    $('token').focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const value = $('token').value.trim();
    $('token').value = '';
    if (!/^sp_[A-Za-z0-9_-]+$/.test(value)) {
      signOut('That is not an API token: tokens start with sp_.');
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, value);
    message('sign-in-error', '', true);
    if (location.hash.startsWith('#/incidents')) {
      await route();
    } else {
      location.hash = '#/incidents';
    }
  }

  /** A refused list means a token that cannot read the register: back to sign-in. */
  function refused(e) {
    if (e instanceof ApiError && [401, 403, 404].includes(e.status)) {
      const why = e.status === 401
        ? 'The server did not accept this token (unknown, revoked or expired).'
        : 'This token cannot read the breach register: it needs the dpo or admin role and the incidents scope.';
      signOut(why);
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- list

  async function showList() {
    show('list-view');
    setState('loading', 'Loading the register…');
    message('list-error', '', true);
    const filter = $('state-filter').value;
    let list;
    try {
      list = await apiJson('GET', `/api/v1/incidents${filter ? `?state=${encodeURIComponent(filter)}` : ''}`);
    } catch (e) {
      if (refused(e)) return;
      message('list-error', sentence(e), true);
      setState('error', 'The register could not be loaded.');
      return;
    }
    const rows = $('incident-rows');
    clear(rows);
    const incidents = Array.isArray(list.incidents) ? list.incidents : [];
    $('list-empty').hidden = incidents.length > 0;
    for (const i of incidents) {
      if (!ID_RE.test(String(i.id))) continue;
      const tr = document.createElement('tr');
      tr.id = `incident-${i.id}`;
      const idCell = document.createElement('td');
      const a = document.createElement('a');
      a.href = `#/incidents/${i.id}`;
      a.id = `open-${i.id}`;
      a.textContent = i.id;
      idCell.appendChild(a);
      tr.appendChild(idCell);
      cell(tr, words(i.cause));
      cell(tr, i.state);
      const suggested = cell(tr, OUTCOMES[i.suggested_outcome] || words(i.suggested_outcome));
      suggested.dataset.outcome = i.suggested_outcome || '';
      const decided = cell(tr, i.decided_outcome ? (OUTCOMES[i.decided_outcome] || words(i.decided_outcome)) : 'not yet decided');
      decided.dataset.outcome = i.decided_outcome || '';
      const deadline = cell(tr, '');
      deadline.id = `countdown-${i.id}`;
      deadline.title = `Deadline ${when(i.deadline_at)}`;
      countdown(deadline, i.remaining_seconds, i.state);
      rows.appendChild(tr);
    }
    $('signed-in-as').textContent = 'Signed in (this tab only).';
    setState('list', `${incidents.length} incident(s).`);
  }

  // ---------------------------------------------------------------- detail

  async function showDetail(id) {
    show('detail-view');
    message('detail-error', '', true);
    for (const s of ['decision-status', 'awareness-status', 'update-status', 'notification-status', 'export-status']) {
      message(s, '', false);
    }
    setState('loading', 'Loading the incident…');
    let incident;
    try {
      incident = await apiJson('GET', incidentPath(id));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        signOut(sentence(e));
        return;
      }
      current = null;
      message('detail-error', e instanceof ApiError && e.status === 404
        ? 'No such incident in your register.'
        : sentence(e), true);
      setState('error', 'The incident could not be loaded.');
      return;
    }
    render(incident, true);
    setState('detail', `Incident ${incident.id}.`);
  }

  function render(i, resetForms) {
    current = i;
    const facts = i.facts || {};
    $('incident-id').textContent = i.id;
    $('incident-state').textContent = i.state;
    $('incident-cause').textContent = words(facts.cause);
    const m = i.message || {};
    $('incident-message').textContent = `${m.id || i.message_id || '—'}` +
      (m.sent_at ? `, sent ${when(m.sent_at)}` : '') +
      (m.revoked_at ? `, revoked ${when(m.revoked_at)}` : '') +
      (typeof m.recipients === 'number' ? `, ${m.recipients} recipient(s)` : '');
    $('incident-opened').textContent = `${when(i.detected_at)} by ${i.opened_by || '—'} (${words(i.trigger)})`;
    $('aware-at').textContent = when(i.aware_at) + (i.aware_reason ? ` — ${i.aware_reason}` : '');
    $('deadline-at').textContent = `${when(i.deadline_at)} (${i.deadline_hours || 72} h)`;
    countdown($('detail-countdown'), i.remaining_seconds, i.state);
    $('authority').textContent = i.authority || '—';
    $('description').textContent = facts.description || '—';
    $('data-categories').textContent = (facts.data_categories || []).map(words).join(', ') || 'none known';
    $('subjects').textContent = facts.approx_subjects == null ? 'unknown' : `about ${facts.approx_subjects}`;
    $('records').textContent = facts.approx_records == null ? 'unknown' : `about ${facts.approx_records}`;
    $('consequences').textContent = facts.likely_consequences || '—';
    $('measures').textContent = (facts.measures_taken || []).join('; ') || '—';

    // Exposure per recipient, from the access proof.
    $('never-accessed').textContent = i.never_accessed
      ? 'Never accessed: no wrong recipient ever received the key. The message receipt proves it.'
      : 'Accessed: a wrong recipient received the key (or the log cannot prove otherwise).';
    $('never-accessed').dataset.neverAccessed = String(Boolean(i.never_accessed));
    const rows = $('exposure-rows');
    clear(rows);
    for (const e of i.exposures || []) {
      const tr = document.createElement('tr');
      cell(tr, e.label);
      cell(tr, e.wrong ? 'yes' : 'no');
      const state = e.state === 'delivered_no_access'
        ? (e.revoked_before_release ? 'never received the key (revoked before any release)' : 'never received the key')
        : e.state === 'accessed_verified' ? 'received the key after verification'
          : e.state === 'unknown' ? 'unknown (the access log is incomplete)' : words(e.state);
      cell(tr, state).dataset.state = e.state || '';
      cell(tr, e.first_release_at ? when(e.first_release_at) : '—');
      cell(tr, e.first_release_verification ? String(e.first_release_verification).toUpperCase() : '—');
      cell(tr, e.releases == null ? '—' : e.releases);
      cell(tr, e.revoked_at ? when(e.revoked_at) : '—');
      rows.appendChild(tr);
    }

    // Assessment.
    const enisa = i.enisa || {};
    $('enisa-dpc').textContent = enisa.dpc == null ? '—' : String(enisa.dpc);
    $('enisa-basis').textContent = enisa.dpc_basis ? `(${enisa.dpc_basis})` : '';
    $('enisa-ei').textContent = enisa.ei_value == null ? '—' : `${enisa.ei_value} (${words(enisa.ei)})`;
    $('enisa-cb').textContent = enisa.cb_value == null ? '—' : String(enisa.cb_value);
    $('enisa-score').textContent = enisa.score == null ? '—' : Number(enisa.score).toFixed(2) +
      (enisa.overridden ? ', overridden by the DPO' : '');
    $('enisa-band').textContent = words(enisa.band);
    const suggestion = i.suggestion || {};
    $('likelihood').textContent = words(suggestion.likelihood);
    $('suggested-outcome').textContent = OUTCOMES[suggestion.outcome] || words(suggestion.outcome);
    $('suggested-outcome').dataset.outcome = suggestion.outcome || '';
    const reasons = $('suggestion-reasons');
    clear(reasons);
    for (const r of suggestion.reasons || []) item(reasons, String(r));
    $('art34-exception').hidden = !suggestion.art34_exception;
    $('art34-exception').textContent = suggestion.art34_exception
      ? `Art. 34(3) exception: ${suggestion.art34_exception}` : '';

    // Decision.
    const d = i.decision;
    $('decision-current').textContent = d
      ? `${OUTCOMES[d.outcome] || words(d.outcome)} — ${d.confirmed ? 'confirms' : 'overrides'} the suggestion; ` +
        `decided by ${d.decided_by || '—'} at ${when(d.decided_at)}: ${d.reason || ''}`
      : 'Not yet decided.';
    $('decision-current').dataset.outcome = d ? d.outcome : '';
    const closed = i.state === 'closed';
    for (const form of ['decision-form', 'awareness-form', 'update-form', 'notification-form']) {
      for (const el of $(form).elements) el.disabled = closed;
    }
    if (resetForms) {
      $('decision-outcome').value = d ? d.outcome : (suggestion.outcome || 'record_only');
      $('decision-reason').value = '';
      $('aware-reason').value = '';
      $('aware-at-input').value = localInput(i.aware_at);
      $('update-note').value = '';
      $('update-subjects').value = facts.approx_subjects == null ? '' : String(facts.approx_subjects);
      $('update-records').value = facts.approx_records == null ? '' : String(facts.approx_records);
      $('update-consequences').value = facts.likely_consequences || '';
      $('update-measures').value = (facts.measures_taken || []).join('\n');
      $('notify-reference').value = '';
      $('notify-summary').value = '';
      $('notify-delay-reason').value = '';
    }

    const notifications = $('notifications');
    clear(notifications);
    for (const n of i.notifications || []) {
      item(notifications, `${n.to === 'authority' ? 'Supervisory authority' : 'People affected'}, ` +
        `${when(n.at)}, phase ${n.phase}${n.late ? ', late' : ''}` +
        (n.reference ? `, reference ${n.reference}` : '') + (n.summary ? `: ${n.summary}` : '') +
        (n.delay_reason ? ` (delay: ${n.delay_reason})` : ''));
    }
    if (!(i.notifications || []).length) item(notifications, 'None recorded.');

    const reminders = $('reminders');
    clear(reminders);
    for (const r of i.reminders || []) {
      item(reminders, `${r.hours} h after awareness (${when(r.due_at)}): ${r.state}` +
        (r.sent_at ? `, sent ${when(r.sent_at)}` : ''));
    }
    if (!(i.reminders || []).length) item(reminders, 'No reminders set (breach settings).');

    const updates = $('updates');
    clear(updates);
    for (const u of i.updates || []) {
      item(updates, `${when(u.at)} ${u.actor || ''}: ${words(u.kind)}${u.note ? ` — ${u.note}` : ''}`);
    }
  }

  /** An RFC 3339 time as the value of a datetime-local input (local time, seconds). */
  function localInput(text) {
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) return '';
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /** A datetime-local value (local time) as RFC 3339 UTC, whole seconds. */
  function fromLocalInput(value) {
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return null;
    return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** Runs one change of the shown incident, shows its outcome in `statusId`. */
  async function change(statusId, run, done) {
    if (!current) return;
    const id = current.id;
    message(statusId, 'Saving…', false);
    setState('saving', 'Saving…');
    try {
      const incident = await run(id, current.version);
      render(incident, true);
      message(statusId, done(incident), false);
      setState('saved', done(incident));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        signOut(sentence(e));
        return;
      }
      message(statusId, sentence(e), true);
      setState('change-error', 'The change was not saved.');
      if (e instanceof ApiError && e.status === 409) {
        try {
          render(await apiJson('GET', incidentPath(id)), false);
        } catch (ignored) {
          // The message above already says what went wrong.
        }
      }
    }
  }

  function decide(event) {
    event.preventDefault();
    const outcome = $('decision-outcome').value;
    const reason = $('decision-reason').value.trim();
    if (!reason) {
      message('decision-status', 'Give a reason: it is kept in the record with the decision.', true);
      return;
    }
    change('decision-status',
      (id, version) => apiJson('POST', incidentPath(id, '/decision'), { outcome, reason, version }),
      (i) => `Decision saved: ${OUTCOMES[outcome]} (${i.decision && i.decision.confirmed
        ? 'confirms' : 'overrides'} the suggestion).`);
  }

  function setAwareness(event) {
    event.preventDefault();
    const at = fromLocalInput($('aware-at-input').value);
    const reason = $('aware-reason').value.trim();
    if (!at || !reason) {
      message('awareness-status', 'Give the time and why it is the time of awareness.', true);
      return;
    }
    change('awareness-status',
      (id, version) => apiJson('PUT', incidentPath(id, '/awareness'), { aware_at: at, reason, version }),
      (i) => `Awareness set; the deadline is now ${when(i.deadline_at)}.`);
  }

  function addUpdate(event) {
    event.preventDefault();
    const note = $('update-note').value.trim();
    if (!note) {
      message('update-status', 'Say what is new in the note.', true);
      return;
    }
    const facts = {};
    const was = (current && current.facts) || {};
    const number = (id) => {
      const v = $(id).value.trim();
      return v === '' ? null : Number(v);
    };
    const subjects = number('update-subjects');
    if (subjects !== null && subjects !== was.approx_subjects) facts.approx_subjects = subjects;
    const records = number('update-records');
    if (records !== null && records !== was.approx_records) facts.approx_records = records;
    const consequences = $('update-consequences').value.trim();
    if (consequences !== (was.likely_consequences || '')) facts.likely_consequences = consequences;
    const measures = $('update-measures').value.split('\n').map((s) => s.trim()).filter(Boolean);
    if (measures.join('\n') !== (was.measures_taken || []).join('\n')) facts.measures_taken = measures;
    change('update-status',
      (id, version) => apiJson('POST', incidentPath(id, '/updates'), { note, facts, version }),
      () => 'Update added; the assessment was recomputed.');
  }

  function recordNotification(event) {
    event.preventDefault();
    const body = { to: $('notify-to').value };
    for (const [key, id] of [['reference', 'notify-reference'], ['summary', 'notify-summary'],
      ['delay_reason', 'notify-delay-reason']]) {
      const v = $(id).value.trim();
      if (v) body[key] = v;
    }
    change('notification-status',
      (id, version) => apiJson('POST', incidentPath(id, '/notifications'), { ...body, version }),
      () => 'Notification recorded.');
  }

  /** Fetches an export with the token and saves it through a blob URL. */
  async function download(event) {
    const format = event.currentTarget.dataset.format;
    if (!current || !format) return;
    const id = current.id;
    message('export-status', `Preparing the ${format.toUpperCase()} export…`, false);
    try {
      const response = await api('GET', `${incidentPath(id, '/export')}?format=${encodeURIComponent(format)}`);
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `incident-${id}.${format}`;
      a.hidden = true;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      message('export-status', `Saved incident-${id}.${format} (${blob.size} bytes).`, false);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        signOut(sentence(e));
        return;
      }
      message('export-status', sentence(e), true);
    }
  }

  // ---------------------------------------------------------------- routing

  async function route() {
    if (!token()) {
      signOut('');
      return;
    }
    const hash = location.hash;
    const match = /^#\/incidents\/([A-Za-z0-9_-]+)$/.exec(hash);
    if (match && ID_RE.test(match[1])) {
      await showDetail(match[1]);
    } else if (hash === '#/incidents' || hash === '' || hash === '#' || hash === '#/') {
      await showList();
    } else {
      location.hash = '#/incidents';
    }
  }

  function start() {
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', () => {
      signOut('');
      history.replaceState(null, '', location.pathname);
    });
    $('refresh').addEventListener('click', showList);
    $('state-filter').addEventListener('change', showList);
    $('decision-form').addEventListener('submit', decide);
    $('awareness-form').addEventListener('submit', setAwareness);
    $('update-form').addEventListener('submit', addUpdate);
    $('notification-form').addEventListener('submit', recordNotification);
    for (const f of ['pdf', 'html', 'md', 'json']) $(`export-${f}`).addEventListener('click', download);
    window.addEventListener('hashchange', route);
    ticker = setInterval(tick, 1000);
    route();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
  // Keeps the interval reachable for debugging; nothing reads it.
  window.addEventListener('pagehide', () => {
    if (ticker) clearInterval(ticker);
  });
})();
