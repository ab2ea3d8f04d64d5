//! Recipient-mistake checks (research §2): a first send of sensitive data, a look-alike of a
//! frequent contact, a namesake, a long visible To/Cc list, a free-webmail address.
//!
//! [`check`] is a pure function of the draft's addresses, the sender's local contact history and
//! the organisation's [`RecipientPolicy`]; it returns raw findings and leaves the level (suggestion,
//! warning, error) to the caller. Nothing here touches the network or the file system: the Public
//! Suffix List ([`psl`]), the IDNA tables and the UTS #39 confusables are compiled in.
//!
//! ```
//! use sealpost_guard::recipients::{check, Address, Contact, RecipientPolicy, Recipients};
//! use sealpost_guard::Kind;
//!
//! let contacts = [Contact { address: "jimmy@council.gov.uk".into(), name: None, sends: 42, sensitive_sends: 3 }];
//! let draft = Recipients {
//!     from: Address::parse("me@example.org").unwrap(),
//!     to: vec![Address::parse("jimmy@counci1.gov.uk").unwrap()],
//!     cc: vec![],
//!     bcc: vec![],
//! };
//! let findings = check(&draft, &contacts, &RecipientPolicy::default(), false);
//! assert_eq!(findings[0].kind, Kind::RecipientLookalike);
//! assert_eq!(findings[0].similar_to.as_deref(), Some("jimmy@council.gov.uk"));
//! ```
//!
//! # Decisions
//! - **Internal** means the same registrable domain as `from`, or a registrable domain listed in
//!   [`RecipientPolicy::internal_domains`] (so subdomains count). A listed entry that is itself a
//!   public suffix (`gov.uk`) makes every domain under it internal. A sender at a free-webmail
//!   domain does not make the other users of that service internal.
//! - **Look-alike** (frequency asymmetry throughout: the known side has at least
//!   `lookalike_min_sends` sends, the typed side none):
//!   1. the whole address has the same confusable skeleton as a frequent contact's;
//!   2. same registrable domain: the local parts have the same skeleton or are within OSA
//!      distance 1 (2 when either is longer than 12 characters) of a frequent contact's;
//!   3. different registrable domain, and the sender has never written to the typed one: it has
//!      the same skeleton as a frequently used registrable domain; or the same label before the
//!      public suffix with another suffix (`nhs.net`/`nhs.com`, `example.nl`/`example.com`); or the
//!      same suffix and a label within the distance above (`council.gov.uk`/`counci1.gov.uk`,
//!      measured on `council`, so the `.gov.uk` does not buy a second edit); or the typed domain
//!      is within distance 1 of the known registrable domain as a whole (a mistyped suffix such
//!      as `council.gov.uj`, where the PSL would split the typo differently).
//!
//!   Edits need strings of at least 3 characters on both sides (`bt.com`/`bp.com` are two
//!   companies); skeletons apply at any length. The domain rules count sends per registrable
//!   domain, so a new address at a domain the sender already writes to (`bristol.ac.uk` next to
//!   `bristol.gov.uk`) does not alarm. Only a different subdomain with the same local part
//!   (`jimmy@mail.council.gov.uk`) is not a look-alike.
//! - **Namesake**: the folded display name (case, whitespace and diacritics ignored; `Doe, Jane`
//!   read as `Jane Doe`) of the typed recipient, or of its contact entry, equals the name of a
//!   contact at another address that has at least one send and at least ten times the typed
//!   address's sends.
//! - **Visible recipients**: never fires with fewer than two visible external recipients.
//! - The sender's own address, if also a recipient, is exempt from every per-recipient rule.

mod address;
mod similar;
mod webmail;

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

pub use address::{Address, AddressError, MAX_ADDRESS_LEN};
use address::{Spec, normalise_domain, parse_spec};
use similar::{DeletionIndex, MIN_EDIT_LEN, max_distance, name_key, osa_within, seed_of, skeleton_key};
pub use webmail::WEBMAIL_DOMAINS;

use crate::Kind;

/// One entry of the sender's local contact history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The address as stored (`jane@x.org` or `Jane <jane@x.org>`); entries that do not parse
    /// are ignored.
    pub address: String,
    /// The display name last used for this address.
    #[serde(default)]
    pub name: Option<String>,
    /// Messages sent to this address.
    #[serde(default)]
    pub sends: u32,
    /// Of those, messages that carried sensitive content.
    #[serde(default)]
    pub sensitive_sends: u32,
}

/// The organisation's settings for the recipient checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecipientPolicy {
    /// External recipients in To and Cc from which a visible list is reported (default 5).
    pub visible_threshold: usize,
    /// Domains counted as internal besides the sender's own (registrable domains; subdomains
    /// count).
    pub internal_domains: Vec<String>,
    /// Report every recipient at a free-webmail domain (default off: citizens use webmail).
    pub webmail: bool,
    /// Domains treated as free webmail in addition to [`WEBMAIL_DOMAINS`].
    pub extra_webmail_domains: Vec<String>,
    /// Sends a contact (or, for the domain rules, a registrable domain) needs before a typed
    /// address that resembles it is reported (default 3; 0 is read as 1).
    pub lookalike_min_sends: u32,
}

impl Default for RecipientPolicy {
    fn default() -> Self {
        RecipientPolicy {
            visible_threshold: 5,
            internal_domains: Vec::new(),
            webmail: false,
            extra_webmail_domains: Vec::new(),
            lookalike_min_sends: 3,
        }
    }
}

/// The addresses of a draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipients {
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
}

/// One recipient mistake, before the caller assigns a level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipientFinding {
    /// Which rule fired.
    pub kind: Kind,
    /// The recipients concerned (normalised addresses, as in [`Address::address`]).
    pub recipients: Vec<String>,
    /// For a look-alike or a namesake: the known contact the recipient resembles.
    pub similar_to: Option<String>,
    /// How many recipients the finding counts (1 for per-recipient rules).
    pub count: usize,
    /// One plain sentence for the sender.
    pub message: String,
}

/// The registrable domain (the public suffix plus one label) of `domain`, by the Public Suffix
/// List, in normalised Unicode form: `mail.council.gov.uk` → `council.gov.uk`, `x.nhs.uk` →
/// `x.nhs.uk`. `None` for a public suffix itself (`gov.uk`, `co.uk`, `nl`), a single label, or
/// an invalid domain. An unknown top-level domain follows the PSL's implicit `*` rule
/// (`a.b.zzz` → `b.zzz`).
pub fn registrable_domain(domain: &str) -> Option<String> {
    let d = normalise_domain(domain)?;
    psl::domain_str(&d).map(str::to_owned)
}

/// Whether `domain` (or its registrable domain) is a free-webmail domain: on the built-in
/// [`WEBMAIL_DOMAINS`] list, any `yandex.*`, or in `policy.extra_webmail_domains`.
pub fn is_webmail(domain: &str, policy: &RecipientPolicy) -> bool {
    let Some(d) = normalise_domain(domain) else {
        return false;
    };
    let parts = DomainParts::of(&d);
    webmail::builtin(&parts.reg) || DomainSet::new(&policy.extra_webmail_domains).contains(&parts)
}

/// Runs every recipient rule. `sensitive` says whether the content checks found sensitive data
/// (it enables [`Kind::RecipientFirstSensitive`]). Findings come grouped by kind, in
/// [`Kind::ALL`] order, recipients in draft order (To, Cc, Bcc; each address once).
pub fn check(r: &Recipients, contacts: &[Contact], policy: &RecipientPolicy, sensitive: bool) -> Vec<RecipientFinding> {
    let book = Book::new(contacts);
    let from = Entry::new(&r.from, false);
    let webmail_extra = DomainSet::new(&policy.extra_webmail_domains);
    let is_webmail_entry = |e: &Entry| {
        e.parts
            .as_ref()
            .is_some_and(|p| webmail::builtin(&p.reg) || webmail_extra.contains(p))
    };
    let own_reg = from
        .parts
        .as_ref()
        .filter(|_| !is_webmail_entry(&from))
        .map(|p| p.reg.clone());
    let internal = DomainSet::new(&policy.internal_domains);
    let min_sends = u64::from(policy.lookalike_min_sends.max(1));

    let entries = unique_entries(r);
    let mut first = Vec::new();
    let mut lookalike = Vec::new();
    let mut namesake = Vec::new();
    let mut webmail = Vec::new();
    let mut visible = Vec::new();
    let mut visible_webmail: HashSet<&str> = HashSet::new();
    let mut visible_webmail_count = 0usize;
    let mut domain_index: Option<DomainIndex> = None;
    let mut local_index: HashMap<String, LocalIndex> = HashMap::new();

    for e in &entries {
        let is_self = e.key == from.key;
        let is_internal = is_self
            || e.parts
                .as_ref()
                .is_some_and(|p| own_reg.as_deref() == Some(p.reg.as_str()) || internal.contains(p));
        let known = book.get(&e.key);
        let sends = known.map_or(0, |k| k.sends);
        let webmail_domain = is_webmail_entry(e);

        if e.visible && !is_internal {
            visible.push(e);
            if webmail_domain {
                visible_webmail_count += 1;
                if let Some(p) = &e.parts {
                    visible_webmail.insert(p.reg.as_str());
                }
            }
        }
        if is_self {
            continue;
        }
        if sensitive && !is_internal && known.is_none_or(|k| k.sensitive == 0) {
            first.push(finding(
                Kind::RecipientFirstSensitive,
                e,
                None,
                format!(
                    "You have not sent sensitive information to {} before; check that this recipient should receive it.",
                    e.shown()
                ),
            ));
        }
        if sends == 0 {
            lookalike.extend(book.lookalike(e, min_sends, &mut domain_index, &mut local_index));
        }
        if let Some(f) = book.namesake(e, known) {
            namesake.push(f);
        }
        if policy.webmail && webmail_domain && !is_internal {
            webmail.push(finding(
                Kind::WebmailRecipient,
                e,
                None,
                format!(
                    "{} is a personal webmail address, not an organisation's; check that this recipient should receive it.",
                    e.shown()
                ),
            ));
        }
    }

    let n = visible.len();
    let by_webmail = visible_webmail_count >= 2 && visible_webmail.len() >= 2;
    let mut out = first;
    out.append(&mut lookalike);
    out.append(&mut namesake);
    if n >= 2 && (n >= policy.visible_threshold || by_webmail) {
        let message = if by_webmail {
            format!(
                "{n} external recipients in To and Cc, including private addresses at {} webmail services, will see each other's addresses; put them in Bcc or send separate messages.",
                visible_webmail.len()
            )
        } else {
            format!(
                "{n} external recipients in To and Cc will see each other's addresses; put them in Bcc or send separate messages."
            )
        };
        out.push(RecipientFinding {
            kind: Kind::VisibleRecipients,
            recipients: visible.iter().map(|e| e.addr.address.clone()).collect(),
            similar_to: None,
            count: n,
            message,
        });
    }
    out.append(&mut webmail);
    out
}

fn finding(kind: Kind, e: &Entry, similar_to: Option<String>, message: String) -> RecipientFinding {
    RecipientFinding {
        kind,
        recipients: vec![e.addr.address.clone()],
        similar_to,
        count: 1,
        message,
    }
}

fn messages(n: u64) -> String {
    if n == 1 {
        "1 message".to_owned()
    } else {
        format!("{n} messages")
    }
}

/// A registrable domain split by the PSL. For a public suffix or a single label, `reg` is the
/// whole domain and `label` is empty.
#[derive(Clone, Debug)]
struct DomainParts {
    reg: String,
    label: String,
    suffix: String,
}

impl DomainParts {
    /// `domain` must be normalised already.
    fn of(domain: &str) -> DomainParts {
        let suffix = psl::suffix_str(domain).unwrap_or(domain);
        let reg = psl::domain_str(domain).unwrap_or(domain);
        let label = reg.strip_suffix(suffix).and_then(|l| l.strip_suffix('.')).unwrap_or("");
        DomainParts {
            reg: reg.to_owned(),
            label: label.to_owned(),
            suffix: suffix.to_owned(),
        }
    }
}

/// A list of policy domains, matched by registrable domain; entries that are themselves public
/// suffixes match every domain under them.
#[derive(Debug, Default)]
struct DomainSet {
    regs: HashSet<String>,
    suffixes: Vec<String>,
}

impl DomainSet {
    fn new(domains: &[String]) -> DomainSet {
        let mut set = DomainSet::default();
        for d in domains {
            let Some(d) = normalise_domain(d.trim().trim_start_matches("*.").trim_start_matches('@')) else {
                continue;
            };
            match psl::domain_str(&d) {
                Some(reg) => {
                    set.regs.insert(reg.to_owned());
                }
                None => set.suffixes.push(d),
            }
        }
        set
    }

    fn contains(&self, p: &DomainParts) -> bool {
        self.regs.contains(&p.reg)
            || self.suffixes.iter().any(|s| {
                p.reg == *s
                    || (p.reg.len() > s.len()
                        && p.reg.ends_with(s.as_str())
                        && p.reg[..p.reg.len() - s.len()].ends_with('.'))
            })
    }
}

/// The comparison key of an address: local part NFC-normalised and lower-cased, then the
/// normalised domain. Local parts are case-sensitive in theory and case-insensitive in practice.
fn key_of(local: &str, domain: &str) -> String {
    let mut k: String = local.nfc().flat_map(char::to_lowercase).collect();
    k.push('@');
    k.push_str(domain);
    k
}

/// One distinct recipient of the draft.
#[derive(Debug)]
struct Entry<'a> {
    addr: &'a Address,
    spec: Option<Spec>,
    key: String,
    local: String,
    parts: Option<DomainParts>,
    /// In To or Cc (seen by the other recipients).
    visible: bool,
}

impl<'a> Entry<'a> {
    fn new(addr: &'a Address, visible: bool) -> Entry<'a> {
        match parse_spec(addr.address.trim()) {
            Ok(spec) => {
                let key = key_of(&spec.local, &spec.domain);
                let local = key.rsplit_once('@').map_or("", |(l, _)| l).to_owned();
                let parts = Some(DomainParts::of(&spec.domain));
                Entry {
                    addr,
                    spec: Some(spec),
                    key,
                    local,
                    parts,
                    visible,
                }
            }
            // Only a hand-built `Address` gets here: still counted, never compared.
            Err(_) => Entry {
                addr,
                spec: None,
                key: addr.address.trim().to_lowercase(),
                local: String::new(),
                parts: None,
                visible,
            },
        }
    }

    /// The address for a message; a non-ASCII one also in the form that shows the difference.
    fn shown(&self) -> String {
        let a = &self.addr.address;
        match &self.spec {
            _ if a.is_ascii() => a.clone(),
            Some(s) if s.local.is_ascii() => format!("{a} ({}@{})", s.local, s.ascii_domain),
            _ => format!("{a} (with non-Latin letters)"),
        }
    }
}

fn unique_entries(r: &Recipients) -> Vec<Entry<'_>> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let lists = [(&r.to, true), (&r.cc, true), (&r.bcc, false)];
    for (list, visible) in lists {
        for a in list {
            let e = Entry::new(a, visible);
            match seen.get(&e.key) {
                Some(&i) => entries[i].visible |= visible,
                None => {
                    seen.insert(e.key.clone(), entries.len());
                    entries.push(e);
                }
            }
        }
    }
    entries
}

/// A contact, normalised; duplicate entries of one address are merged (counts added).
#[derive(Debug)]
struct Known {
    address: String,
    key: String,
    local: String,
    local_chars: Vec<char>,
    local_skeleton: String,
    parts: DomainParts,
    name: Option<String>,
    sends: u64,
    sensitive: u64,
}

/// The contact history, indexed.
#[derive(Debug, Default)]
struct Book {
    known: Vec<Known>,
    by_key: HashMap<String, usize>,
    by_skeleton: HashMap<String, Vec<usize>>,
    by_reg: HashMap<String, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
    domain_sends: HashMap<String, u64>,
}

impl Book {
    fn new(contacts: &[Contact]) -> Book {
        let mut book = Book::default();
        for c in contacts {
            let Ok(a) = Address::parse(&c.address) else { continue };
            let Ok(spec) = parse_spec(&a.address) else { continue };
            let key = key_of(&spec.local, &spec.domain);
            let name = c.name.clone().or(a.name).filter(|n| !n.trim().is_empty());
            if let Some(&i) = book.by_key.get(&key) {
                let k = &mut book.known[i];
                k.sends += u64::from(c.sends);
                k.sensitive += u64::from(c.sensitive_sends);
                if k.name.is_none() {
                    k.name = name;
                }
                continue;
            }
            let local = key.rsplit_once('@').map_or("", |(l, _)| l).to_owned();
            book.by_key.insert(key.clone(), book.known.len());
            book.known.push(Known {
                address: spec.address,
                local_chars: local.chars().collect(),
                local_skeleton: skeleton_key(&local),
                local,
                key,
                parts: DomainParts::of(&spec.domain),
                name,
                sends: u64::from(c.sends),
                sensitive: u64::from(c.sensitive_sends),
            });
        }
        for (i, k) in book.known.iter().enumerate() {
            book.by_skeleton.entry(skeleton_key(&k.key)).or_default().push(i);
            book.by_reg.entry(k.parts.reg.clone()).or_default().push(i);
            *book.domain_sends.entry(k.parts.reg.clone()).or_default() += k.sends;
            if let Some(n) = k.name.as_deref().and_then(name_key) {
                book.by_name.entry(n).or_default().push(i);
            }
        }
        book
    }

    fn get(&self, key: &str) -> Option<&Known> {
        self.by_key.get(key).map(|&i| &self.known[i])
    }

    /// The most frequent of `ids` (ties: the first), if any.
    fn best(&self, ids: impl Iterator<Item = usize>) -> Option<usize> {
        ids.fold(None, |best: Option<usize>, i| match best {
            Some(b) if self.known[b].sends >= self.known[i].sends => Some(b),
            _ => Some(i),
        })
    }

    fn lookalike(
        &self,
        e: &Entry,
        min_sends: u64,
        domains: &mut Option<DomainIndex>,
        locals: &mut HashMap<String, LocalIndex>,
    ) -> Option<RecipientFinding> {
        let parts = e.parts.as_ref()?;
        let frequent = |i: &usize| self.known[*i].sends >= min_sends && self.known[*i].key != e.key;

        // 1. The whole address has a frequent contact's skeleton.
        let by_address = self
            .by_skeleton
            .get(&skeleton_key(&e.key))
            .and_then(|ids| self.best(ids.iter().copied().filter(frequent)));
        // 2. Same registrable domain, a look-alike local part.
        let by_local = || {
            let index = locals
                .entry(parts.reg.clone())
                .or_insert_with(|| LocalIndex::new(self, &parts.reg, min_sends));
            let chars: Vec<char> = e.local.chars().collect();
            let skeleton = skeleton_key(&e.local);
            // The closest (a skeleton match counts as distance 0), then the most frequent.
            index
                .candidates(&chars)
                .into_iter()
                .filter(frequent)
                .filter_map(|i| {
                    let k = &self.known[i];
                    if k.local == e.local {
                        None
                    } else if k.local_skeleton == skeleton {
                        Some((0, Reverse(k.sends), i))
                    } else {
                        let k_max = max_distance(&k.local_chars, &chars);
                        (chars.len().min(k.local_chars.len()) >= MIN_EDIT_LEN)
                            .then(|| osa_within(&k.local_chars, &chars, k_max))
                            .flatten()
                            .map(|dist| (dist, Reverse(k.sends), i))
                    }
                })
                .min()
                .map(|(_, _, i)| i)
        };
        if let Some(i) = by_address.or_else(by_local) {
            let k = &self.known[i];
            return Some(finding(
                Kind::RecipientLookalike,
                e,
                Some(k.address.clone()),
                format!(
                    "{} looks like {}, to whom you have sent {}; check the address.",
                    e.shown(),
                    k.address,
                    messages(k.sends)
                ),
            ));
        }

        // 3. A registrable domain never written to that resembles a frequent one.
        if self.domain_sends.get(&parts.reg).copied().unwrap_or(0) > 0 {
            return None;
        }
        let index = domains.get_or_insert_with(|| DomainIndex::new(self, min_sends));
        let domain = e.spec.as_ref().map_or("", |s| s.domain.as_str());
        let d = index.find(parts, domain)?;
        let dom = &index.domains[d];
        let same_local = self.best(
            self.by_reg
                .get(&dom.reg)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| self.known[i].local == e.local),
        );
        let (known, message) = match same_local {
            Some(i) => (
                &self.known[i],
                format!(
                    "{} looks like {}, at a domain you have sent {} to; check the address.",
                    e.shown(),
                    self.known[i].address,
                    messages(dom.sends)
                ),
            ),
            None => (
                &self.known[dom.top],
                format!(
                    "{} looks like an address at {} (such as {}), a domain you have sent {} to; check the address.",
                    e.shown(),
                    dom.reg,
                    self.known[dom.top].address,
                    messages(dom.sends)
                ),
            ),
        };
        Some(finding(
            Kind::RecipientLookalike,
            e,
            Some(known.address.clone()),
            message,
        ))
    }

    fn namesake(&self, e: &Entry, typed: Option<&Known>) -> Option<RecipientFinding> {
        let name = e.addr.name.as_deref().or(typed.and_then(|k| k.name.as_deref()))?;
        let ids = self.by_name.get(&name_key(name)?)?;
        let typed_sends = typed.map_or(0, |k| k.sends);
        let i = self.best(ids.iter().copied().filter(|&i| {
            let k = &self.known[i];
            k.key != e.key && k.sends >= 1 && typed_sends.saturating_mul(10) <= k.sends
        }))?;
        let k = &self.known[i];
        Some(finding(
            Kind::RecipientNamesake,
            e,
            Some(k.address.clone()),
            format!(
                "The name {} also belongs to {}, to whom you have sent {}; check that {} is the right address.",
                name.trim(),
                k.address,
                messages(k.sends),
                e.shown()
            ),
        ))
    }
}

/// Frequent contacts at one registrable domain, for the local-part rule. Small domains are
/// compared directly; large ones (a big employer, a webmail service) through a deletion index.
#[derive(Debug)]
struct LocalIndex {
    ids: Vec<usize>,
    by_skeleton: HashMap<String, Vec<usize>>,
    deletions: Option<DeletionIndex>,
}

impl LocalIndex {
    const DIRECT: usize = 32;

    fn new(book: &Book, reg: &str, min_sends: u64) -> LocalIndex {
        let ids: Vec<usize> = book
            .by_reg
            .get(reg)
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|&i| book.known[i].sends >= min_sends)
                    .collect()
            })
            .unwrap_or_default();
        let mut by_skeleton: HashMap<String, Vec<usize>> = HashMap::new();
        for &i in &ids {
            by_skeleton
                .entry(book.known[i].local_skeleton.clone())
                .or_default()
                .push(i);
        }
        let deletions = (ids.len() > Self::DIRECT).then(|| {
            let mut index = DeletionIndex::new(2);
            for &i in &ids {
                index.insert(0, &book.known[i].local_chars, i as u32);
            }
            index.finish();
            index
        });
        LocalIndex {
            ids,
            by_skeleton,
            deletions,
        }
    }

    /// Contacts whose local part may match `local` (by skeleton or edit distance; unverified).
    fn candidates(&self, local: &[char]) -> Vec<usize> {
        let Some(index) = &self.deletions else {
            return self.ids.clone();
        };
        let s: String = local.iter().collect();
        let mut ids: Vec<usize> = index.candidates(0, local).into_iter().map(|i| i as usize).collect();
        ids.extend(self.by_skeleton.get(&skeleton_key(&s)).into_iter().flatten());
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// A frequently used registrable domain.
#[derive(Debug)]
struct Dom {
    reg: String,
    reg_chars: Vec<char>,
    skeleton: String,
    label: Vec<char>,
    suffix: String,
    sends: u64,
    /// Its most frequent contact.
    top: usize,
}

/// The registrable domains with at least `min_sends` sends, indexed for the domain rules.
#[derive(Debug)]
struct DomainIndex {
    domains: Vec<Dom>,
    by_skeleton: HashMap<String, Vec<u32>>,
    by_label: HashMap<String, Vec<u32>>,
    /// Labels, seeded by their suffix.
    labels: DeletionIndex,
    /// Whole registrable domains.
    whole: DeletionIndex,
}

impl DomainIndex {
    fn new(book: &Book, min_sends: u64) -> DomainIndex {
        let mut index = DomainIndex {
            domains: Vec::new(),
            by_skeleton: HashMap::new(),
            by_label: HashMap::new(),
            labels: DeletionIndex::new(2),
            whole: DeletionIndex::new(1),
        };
        let mut regs: Vec<(&String, &u64)> = book.domain_sends.iter().filter(|(_, s)| **s >= min_sends).collect();
        regs.sort();
        for (reg, &sends) in regs {
            let Some(top) = book.best(book.by_reg.get(reg).into_iter().flatten().copied()) else {
                continue;
            };
            let parts = &book.known[top].parts;
            let id = index.domains.len() as u32;
            let label: Vec<char> = parts.label.chars().collect();
            let reg_chars: Vec<char> = reg.chars().collect();
            let skeleton = skeleton_key(reg);
            index.by_skeleton.entry(skeleton.clone()).or_default().push(id);
            if label.len() >= MIN_EDIT_LEN {
                index.by_label.entry(parts.label.clone()).or_default().push(id);
                index.labels.insert(seed_of(&parts.suffix), &label, id);
                index.whole.insert(0, &reg_chars, id);
            }
            index.domains.push(Dom {
                reg: reg.clone(),
                reg_chars,
                skeleton,
                label,
                suffix: parts.suffix.clone(),
                sends,
                top,
            });
        }
        index.labels.finish();
        index.whole.finish();
        index
    }

    /// The closest frequent domain that `parts` (of the typed `domain`) resembles.
    fn find(&self, parts: &DomainParts, domain: &str) -> Option<usize> {
        let label: Vec<char> = parts.label.chars().collect();
        let domain: Vec<char> = domain.chars().collect();
        let mut ids: Vec<u32> = Vec::new();
        ids.extend(self.by_skeleton.get(&skeleton_key(&parts.reg)).into_iter().flatten());
        ids.extend(self.by_label.get(&parts.label).into_iter().flatten());
        if label.len() >= MIN_EDIT_LEN {
            ids.extend(self.labels.candidates(seed_of(&parts.suffix), &label));
        }
        if domain.len() >= MIN_EDIT_LEN {
            ids.extend(self.whole.candidates(0, &domain));
        }
        let typed_skeleton = skeleton_key(&parts.reg);
        // The closest domain by the rule that matched (a skeleton counts as 0, a changed suffix
        // as 1), then the most frequent.
        ids.into_iter()
            .map(|id| id as usize)
            .filter_map(|id| {
                let d = &self.domains[id];
                if d.reg == parts.reg {
                    return None;
                }
                let mut best: Option<usize> = None;
                let mut consider = |dist: usize| best = Some(best.map_or(dist, |b| b.min(dist)));
                if d.skeleton == typed_skeleton {
                    consider(0);
                }
                if d.label == label && d.suffix != parts.suffix && label.len() >= MIN_EDIT_LEN {
                    consider(1);
                }
                if d.suffix == parts.suffix && d.label != label && d.label.len().min(label.len()) >= MIN_EDIT_LEN {
                    if let Some(dist) = osa_within(&d.label, &label, max_distance(&d.label, &label)) {
                        consider(dist);
                    }
                }
                if d.label.len() >= MIN_EDIT_LEN
                    && domain != d.reg_chars
                    && osa_within(&domain, &d.reg_chars, 1).is_some()
                {
                    consider(1);
                }
                best.map(|dist| (dist, Reverse(d.sends), id))
            })
            .min()
            .map(|(_, _, id)| id)
    }
}
