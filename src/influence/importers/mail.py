"""Import e-mail metadata from mbox files and .eml files: headers only, never a body.

The reader streams: an mbox is read line by line, header lines are collected until the blank line that ends
them, and body lines are skipped without being decoded or kept (the standard library's `mailbox.mbox` is not
used: it builds a table of contents and reads whole messages). Per accepted message only compact integers are
kept (time, sender index, thread node, subject hash, ...); recipients go to compact arrays; Message-IDs live in
one dict (needed to rebuild threads and find duplicates). Emails and recipients are written in chunks with a
`pyarrow.parquet.ParquetWriter` (or appended CSV), so memory grows by a few hundred bytes per message, never by
message size. See docs/importers.md for every choice (threads, accounts, sides, rejects).
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from influence.contract import TABLES, coerce_table, write_dataset
from influence.importers._common import (
    ImporterError,
    ImportReport,
    clear_dataset_files,
    match_domain,
    normalise_domain,
    normalise_email,
    person_id_for,
    stable_id,
)

__all__ = ["import_mbox", "import_eml", "normalise_subject", "FREEMAIL_DOMAINS"]

Format = Literal["parquet", "csv"]

# Never chosen automatically as the buying account (they are people's private mailboxes, not organisations).
FREEMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
        "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de",
        "hotmail.nl", "ziggo.nl", "kpnmail.nl", "orange.fr", "free.fr", "laposte.net",
    }
)  # fmt: skip

_ADDRESS_HEADERS = ("from", "to", "cc", "bcc")
_BASE_HEADERS = frozenset({*_ADDRESS_HEADERS, "date", "message-id", "in-reply-to", "references", "subject"})
_KIND_CODE = {"to": 0, "cc": 1, "bcc": 2}
_KIND_NAMES = ("to", "cc", "bcc")
_MSGID = re.compile(r"<([^<>\s]+)>")
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|tr|antw|doorst|sv|vs)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE
)
_EMPTY_GROUP = re.compile(r"^[^:<>@,\"]*:\s*;?\s*$")
_CHUNK_ROWS = 50_000
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def normalise_subject(subject: str | None) -> tuple[str, bool]:
    """Subject without reply/forward prefixes (Re, Fw, Fwd, AW, WG, TR, Antw, Doorst, SV, VS; also `Re[2]:`),
    whitespace collapsed, lower case; and whether a prefix was present (the message is a reply or forward)."""
    text = subject or ""
    stripped = _PREFIX.sub("", text)
    return " ".join(stripped.split()).lower(), stripped != text


# The common shapes (`a@b`, `Name <a@b>`, `"Last, First" <a@b>`, comma-separated) parsed by one regex; anything
# else (groups, comments, routes, escapes) goes to email.utils.getaddresses, which is ~20x slower.
_FAST_ADDRESS = re.compile(
    r'\s*(?:(?:"((?:[^"\\\r\n]|\\.)*)"|([^",<>;:()\\@]*?))\s*<([^<>\s,"();:\\]+)>|([^\s<>,";:()\\]+))\s*(?:,|$)'
)


def _fast_addresses(value: str) -> list[tuple[str, str]] | None:
    out = []
    pos, end = 0, len(value)
    while pos < end:
        m = _FAST_ADDRESS.match(value, pos)
        if m is None or m.end() == pos:
            return None
        quoted, bare, angle, plain = m.groups()
        if angle is not None:
            name = quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted is not None else bare
            out.append((name.strip(), angle))
        else:
            out.append(("", plain))
        pos = m.end()
    return out or None


@lru_cache(maxsize=200_000)
def _normal_address(address: str) -> str | None:
    return normalise_email(address)


def _decode_bytes(raw: bytes) -> tuple[str, bool]:
    """UTF-8, else Windows-1252, else Latin-1 (never fails); and whether a fallback was needed."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252"), True
        except UnicodeDecodeError:
            return raw.decode("latin-1"), True


@lru_cache(maxsize=100_000)
def _decode_words(name: str) -> str:
    """Decode RFC 2047 encoded words (=?utf-8?q?...?=, =?iso-8859-1?b?...?=) in a display name."""
    if "=?" not in name:
        return name
    return str(make_header(decode_header(name)))


def _message_ids(value: str | None) -> list[str]:
    if not value:
        return []
    return [f"<{m}>" for m in _MSGID.findall(value)]


def _collect_headers(lines: Sequence[bytes], wanted: frozenset[str]) -> dict[str, bytes]:
    """Unfold the wanted headers; address headers that occur twice are joined, others keep the first value."""
    out: dict[str, bytes] = {}
    current: str | None = None
    for raw in lines:
        if raw[:1] in (b" ", b"\t"):
            if current is not None:
                out[current] += b" " + raw.strip()
            continue
        name, sep, value = raw.partition(b":")
        if not sep:
            current = None
            continue
        key = name.strip().lower().decode("ascii", "replace")
        if key not in wanted:
            current = None
        elif key not in out:
            out[key] = value.strip()
            current = key
        elif key in _ADDRESS_HEADERS:
            out[key] += b", " + value.strip()
            current = key
        else:
            current = None
    return out


@dataclass
class _Options:
    account_domains: tuple[str, ...]
    seller_domains: tuple[str, ...]
    deal_by: str
    deal_header: str | None
    thread_window_s: int
    wanted: frozenset[str] = _BASE_HEADERS


@dataclass
class _MailCollector:
    """Accumulates accepted messages as compact arrays; decides threads, accounts and deals at the end."""

    options: _Options
    report: ImportReport
    files: list[str] = field(default_factory=list)
    # Message-ID nodes: every id seen (messages and ids only referenced), for union-find threading.
    node_index: dict[str, int] = field(default_factory=dict)
    node_ids: list[str] = field(default_factory=list)
    node_parent: array = field(default_factory=lambda: array("q"))
    node_msg: array = field(default_factory=lambda: array("q"))  # message index of the node, -1 if none
    # Per accepted message.
    m_node: array = field(default_factory=lambda: array("q"))
    m_sent: array = field(default_factory=lambda: array("q"))
    m_sender: array = field(default_factory=lambda: array("i"))
    m_file: array = field(default_factory=lambda: array("i"))
    m_line: array = field(default_factory=lambda: array("q"))
    m_subject: array = field(default_factory=lambda: array("q"))
    m_reply_like: bytearray = field(default_factory=bytearray)
    m_has_refs: bytearray = field(default_factory=bytearray)
    m_parent: array = field(default_factory=lambda: array("q"))  # node answered (In-Reply-To), -1 if none
    m_deal_value: array = field(default_factory=lambda: array("i"))
    # Recipients and participant domains, one entry each.
    r_msg: array = field(default_factory=lambda: array("i"))
    r_person: array = field(default_factory=lambda: array("i"))
    r_kind: array = field(default_factory=lambda: array("b"))
    d_msg: array = field(default_factory=lambda: array("i"))
    d_domain: array = field(default_factory=lambda: array("i"))
    # People and domains.
    person_index: dict[str, int] = field(default_factory=dict)
    person_emails: list[str] = field(default_factory=list)
    person_domain: array = field(default_factory=lambda: array("i"))
    person_names: dict[int, Counter] = field(default_factory=dict)
    domain_index: dict[str, int] = field(default_factory=dict)
    deal_values: dict[str, int] = field(default_factory=dict)

    # -- nodes ---------------------------------------------------------------------------------------------
    def _node(self, message_id: str) -> int:
        node = self.node_index.get(message_id)
        if node is None:
            node = len(self.node_ids)
            self.node_index[message_id] = node
            self.node_ids.append(message_id)
            self.node_parent.append(node)
            self.node_msg.append(-1)
        return node

    def _find(self, node: int) -> int:
        parent = self.node_parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            # Keep the smaller index as root: deterministic regardless of the order of unions.
            if rb < ra:
                ra, rb = rb, ra
            self.node_parent[rb] = ra

    def _person(self, address: str, name: str) -> int:
        idx = self.person_index.get(address)
        if idx is None:
            idx = len(self.person_emails)
            self.person_index[address] = idx
            self.person_emails.append(address)
            domain = address.rsplit("@", 1)[1]
            self.person_domain.append(self.domain_index.setdefault(domain, len(self.domain_index)))
        if name:
            self.person_names.setdefault(idx, Counter())[name] += 1
        return idx

    # -- one message ---------------------------------------------------------------------------------------
    def add(self, file_idx: int, line: int, lines: Sequence[bytes]) -> None:
        """Validate one message's header lines; accept it into the arrays or reject it with a reason."""
        report, file = self.report, self.files[file_idx]
        raw = _collect_headers(lines, self.options.wanted)
        headers: dict[str, str] = {}
        fallback = []
        for key, value in raw.items():
            headers[key], fell_back = _decode_bytes(value)
            if fell_back:
                fallback.append(key)
        where = f"line {line}" if line else "file"

        ids = _message_ids(headers.get("message-id"))
        if ids:
            mid = ids[0]
        else:
            basis = "\x1f".join(headers.get(k, "") for k in ("from", "date", "subject", "to", "cc"))
            mid = f"<synthetic.{hashlib.sha1(basis.encode('utf-8')).hexdigest()[:24]}@influence.invalid>"
            report.warn(f"{file}:{where}: no Message-ID; synthesised {mid} from From, Date, Subject, To, Cc")
        record = f"{where} {mid}" if line else mid
        if fallback:
            report.warn(f"{file}:{record}: non-UTF-8 bytes in {', '.join(fallback)}; decoded as Windows-1252")

        existing = self.node_index.get(mid)
        if existing is not None and self.node_msg[existing] >= 0:
            first = self.node_msg[existing]
            first_file = self.files[self.m_file[first]]
            first_line = self.m_line[first]
            at = f"{first_file} line {first_line}" if first_line else first_file
            report.reject(
                file, record, "Message-ID", f"duplicate Message-ID {mid}; first seen at {at} (kept)"
            )
            return

        date_text = headers.get("date", "").strip()
        if not date_text:
            report.reject(file, record, "Date", "missing Date header")
            return
        try:
            sent = email.utils.parsedate_to_datetime(date_text)
        except (ValueError, TypeError, IndexError, OverflowError):
            report.reject(file, record, "Date", f"unparseable Date {date_text!r}")
            return
        if sent.tzinfo is None:
            report.reject(file, record, "Date", f"Date {date_text!r} has no time zone offset (-0000 or none)")
            return
        if not _EARLIEST <= sent < _LATEST:
            # Clock errors (1970 epochs, year 9999 spam) would also overflow nanosecond timestamps.
            report.reject(file, record, "Date", f"Date {date_text!r} is outside 1970-2099")
            return

        from_text = headers.get("from", "").strip()
        if not from_text:
            report.reject(file, record, "From", "missing From header")
            return
        senders = self._addresses(from_text)
        if senders is None or not senders:
            report.reject(file, record, "From", f"From not parseable: {from_text!r}")
            return

        recipients: dict[str, tuple[str, int]] = {}
        for key in ("to", "cc", "bcc"):
            value = headers.get(key, "").strip()
            if not value:
                continue
            parsed = self._addresses(value)
            if parsed is None:
                report.reject(file, record, key.capitalize(), f"recipient not parseable in {value!r}")
                return
            for address, name in parsed:
                code = _KIND_CODE[key]
                # One row per (message, person): someone in To and Cc counts as To (the stronger signal).
                if address not in recipients or recipients[address][1] > code:
                    recipients[address] = (name, code)

        # Accepted: register everything.
        msg = len(self.m_node)
        node = self._node(mid)
        self.node_msg[node] = msg
        self.m_node.append(node)
        self.m_sent.append(int(sent.timestamp()))
        sender_address, sender_name = senders[0]
        sender = self._person(sender_address, sender_name)
        self.m_sender.append(sender)
        self.m_file.append(file_idx)
        self.m_line.append(line)
        subject, reply_like = normalise_subject(headers.get("subject"))
        self.m_subject.append(hash(subject) if subject else 0)
        self.m_reply_like.append(1 if reply_like else 0)

        refs = _message_ids(headers.get("references"))
        answered = _message_ids(headers.get("in-reply-to"))
        parent_id = answered[0] if answered else (refs[-1] if refs else None)
        linked = [r for r in (*refs, *answered) if r != mid]
        for ref in linked:
            self._union(node, self._node(ref))
        self.m_has_refs.append(1 if linked else 0)
        self.m_parent.append(self._node(parent_id) if parent_id and parent_id != mid else -1)

        value_id = -1
        if self.options.deal_header:
            value = " ".join(headers.get(self.options.deal_header, "").split())
            if value:
                value_id = self.deal_values.setdefault(value, len(self.deal_values))
        self.m_deal_value.append(value_id)

        domains = {self.person_domain[sender]}
        for address, (name, code) in recipients.items():
            person = self._person(address, name)
            self.r_msg.append(msg)
            self.r_person.append(person)
            self.r_kind.append(code)
            domains.add(self.person_domain[person])
        for d in domains:
            self.d_msg.append(msg)
            self.d_domain.append(d)
        report.accept(file)

    def _addresses(self, value: str) -> list[tuple[str, str]] | None:
        """[(normalised address, decoded display name)], [] for an empty group, None when not parseable."""
        if _EMPTY_GROUP.match(value):
            return []
        out = []
        for name, address in _fast_addresses(value) or email.utils.getaddresses([value]):
            normal = _normal_address(address)
            if normal is None:
                return None
            try:
                decoded = _decode_words(name).strip().strip('"').strip()
            except (UnicodeDecodeError, LookupError, ValueError):
                self.report.warn(f"undecodable display name {name!r} kept as is")
                decoded = name.strip()
            # An address used as its own display name tells us nothing about the name.
            out.append((normal, "" if "@" in decoded and _normal_address(decoded) else decoded))
        return out

    # -- the end: threads, accounts, deals, tables --------------------------------------------------------
    def finish(self, out_dir: Path, fmt: Format) -> None:
        """Rebuild threads, choose accounts and deals, reject what cannot belong to a deal, write the tables."""
        report, opts = self.report, self.options
        n = len(self.m_node)
        node = np.frombuffer(self.m_node, dtype=np.int64) if n else np.zeros(0, np.int64)
        sent = np.frombuffer(self.m_sent, dtype=np.int64) if n else np.zeros(0, np.int64)
        subject = np.frombuffer(self.m_subject, dtype=np.int64) if n else np.zeros(0, np.int64)
        reply_like = np.frombuffer(bytes(self.m_reply_like), dtype=np.uint8).astype(bool)
        has_refs = np.frombuffer(bytes(self.m_has_refs), dtype=np.uint8).astype(bool)

        # Subject fallback: a reply/forward without References/In-Reply-To joins the thread of the previous
        # message with the same normalised subject sent at most `thread_window` earlier.
        with_subject = np.flatnonzero(subject != 0)
        order = with_subject[np.lexsort((sent[with_subject], subject[with_subject]))]
        if len(order) > 1:
            a, b = order[:-1], order[1:]
            join = (
                (subject[a] == subject[b])
                & (sent[b] - sent[a] <= opts.thread_window_s)
                & reply_like[b]
                & ~has_refs[b]
            )
            for x, y in zip(a[join].tolist(), b[join].tolist(), strict=True):
                self._union(int(node[x]), int(node[y]))
        root = np.fromiter((self._find(int(v)) for v in node), dtype=np.int64, count=n)
        _, thread = np.unique(root, return_inverse=True) if n else (None, np.zeros(0, np.int64))
        thread = thread.astype(np.int64)
        # Thread id = Message-ID of its earliest message (ties: the one read first).
        first_order = np.lexsort((np.arange(n), sent, thread))
        starts = np.r_[True, thread[first_order][1:] != thread[first_order][:-1]] if n else np.zeros(0, bool)
        thread_first = np.empty(int(thread.max()) + 1 if n else 0, dtype=np.int64)
        thread_first[thread[first_order][starts]] = first_order[starts]

        # Domains -> accounts and sides.
        domains = list(self.domain_index)
        seller = [match_domain(d, opts.seller_domains) is not None for d in domains]
        accounts = list(opts.account_domains)
        if not accounts and n:
            sender_domain = np.frombuffer(self.person_domain, dtype=np.int32)[
                np.frombuffer(self.m_sender, np.int32)
            ]
            counts = np.bincount(sender_domain, minlength=len(domains))
            ranked = sorted(
                (i for i in range(len(domains)) if not seller[i] and domains[i] not in FREEMAIL_DOMAINS),
                key=lambda i: (-counts[i], domains[i]),
            )
            if ranked and counts[ranked[0]] > 0:
                accounts = [domains[ranked[0]]]
                sent_by = int(counts[ranked[0]])
                report.warn(
                    f"no --account-domain given: the most frequent sender domain {accounts[0]!r} "
                    f"({sent_by} message{'' if sent_by == 1 else 's'}) is the buying account"
                )
        account_of_domain = np.array(
            [
                -1 if seller[i] or (m := match_domain(d, accounts)) is None else accounts.index(m)
                for i, d in enumerate(domains)
            ],
            dtype=np.int64,
        )

        # Group key per message: what one deal is made of.
        if opts.deal_by == "header":
            value = (
                np.frombuffer(self.m_deal_value, dtype=np.int32).astype(np.int64)
                if n
                else np.zeros(0, np.int64)
            )
            has = value >= 0
            # Messages without the header inherit the most frequent value of their thread.
            pairs = pd.DataFrame({"thread": thread[has], "value": value[has]})
            top = (
                pairs.groupby(["thread", "value"]).size().rename("n").reset_index()
                .sort_values(["thread", "n", "value"], ascending=[True, False, True])
                .drop_duplicates("thread").set_index("thread")["value"]
            )  # fmt: skip
            inherited = pd.Series(thread).map(top).fillna(-1).to_numpy(dtype=np.int64)
            key = np.where(has, value, inherited)
        else:
            key = thread

        # Account per key: the account most messages of the group involve (ties: the first account given).
        d_msg = np.frombuffer(self.d_msg, dtype=np.int32) if len(self.d_msg) else np.zeros(0, np.int32)
        d_acc = (
            account_of_domain[np.frombuffer(self.d_domain, dtype=np.int32)] if len(self.d_domain) else d_msg
        )
        involve = pd.DataFrame({"msg": d_msg, "account": d_acc})
        involve = involve[involve["account"] >= 0].drop_duplicates()
        involve["key"] = key[involve["msg"].to_numpy()] if len(involve) else []
        involve = involve[involve["key"] >= 0]
        key_account = (
            involve.groupby(["key", "account"]).size().rename("n").reset_index()
            .sort_values(["key", "n", "account"], ascending=[True, False, True])
            .drop_duplicates("key").set_index("key")["account"]
        )  # fmt: skip
        account = pd.Series(key).map(key_account).fillna(-1).to_numpy(dtype=np.int64)
        kept = account >= 0

        for i in np.flatnonzero(~kept).tolist():
            file = self.files[self.m_file[i]]
            line = self.m_line[i]
            mid = self.node_ids[self.m_node[i]]
            record = f"line {line} {mid}" if line else mid
            if opts.deal_by == "header" and key[i] < 0:
                reason = f"no {opts.deal_header} header in the message or its thread (--deal-by header)"
                report.reject(file, record, opts.deal_header or "", reason)
            elif not accounts:
                report.reject(
                    file, record, "From", "no buying account: no sender domain outside the seller domains"
                )
            else:
                reason = (
                    f"no participant from an account domain ({', '.join(accounts)}) in the message's "
                    + ("deal" if opts.deal_by == "header" else "thread")
                )
                report.reject(file, record, "To", reason)
        # Each rejected message was counted as imported when read: move it to the rejected column.
        for i in np.flatnonzero(~kept).tolist():
            c = report.per_file[self.files[self.m_file[i]]]
            c["imported"] -= 1
            report.imported -= 1

        # Deals.
        deal_value_names = list(self.deal_values)
        if opts.deal_by == "thread":
            deal_key = thread
        elif opts.deal_by == "account":
            deal_key = account
        else:
            deal_key = key
        kept_idx = np.flatnonzero(kept)
        deal_frame = pd.DataFrame(
            {"deal_key": deal_key[kept_idx], "sent": sent[kept_idx], "account": account[kept_idx]}
        )
        if opts.deal_by == "header":
            # A deal's account: the most frequent account among its messages' groups (already per key).
            pass
        agg = deal_frame.groupby("deal_key").agg(created=("sent", "min"), account=("account", "first"))

        def deal_name(k: int) -> str:
            if opts.deal_by == "thread":
                return stable_id("mail", self.node_ids[self.m_node[int(thread_first[k])]])
            if opts.deal_by == "account":
                return f"mail-{accounts[k]}"
            return deal_value_names[k]

        deal_ids = {int(k): deal_name(int(k)) for k in agg.index}
        deals = pd.DataFrame(
            {
                "deal_id": [deal_ids[int(k)] for k in agg.index],
                "account_id": [accounts[int(a)] for a in agg["account"]],
                "created_at": pd.to_datetime(agg["created"].to_numpy(), unit="s", utc=True),
                "closed_at": pd.NaT,
                "stage": pd.NA,
                "outcome": "open",
                "amount": np.nan,
                "currency": pd.NA,
            }
        )
        accounts_frame = pd.DataFrame(
            {
                "account_id": accounts,
                "name": accounts,
                "domain": accounts,
                "industry": pd.NA,
                "country": pd.NA,
            }
        )

        # People referenced by kept rows.
        sender_arr = np.frombuffer(self.m_sender, dtype=np.int32) if n else np.zeros(0, np.int32)
        r_msg = np.frombuffer(self.r_msg, dtype=np.int32) if len(self.r_msg) else np.zeros(0, np.int32)
        r_person = np.frombuffer(self.r_person, dtype=np.int32) if len(self.r_msg) else np.zeros(0, np.int32)
        r_kind = np.frombuffer(self.r_kind, dtype=np.int8) if len(self.r_msg) else np.zeros(0, np.int8)
        r_kept = kept[r_msg] if len(r_msg) else np.zeros(0, bool)
        used = np.unique(np.concatenate([sender_arr[kept], r_person[r_kept]]))
        person_ids = [person_id_for(e) for e in self.person_emails]
        person_domain = (
            np.frombuffer(self.person_domain, dtype=np.int32) if self.person_emails else np.zeros(0, np.int32)
        )
        rows = []
        for p in used.tolist():
            d = int(person_domain[p])
            acc = int(account_of_domain[d])
            names = self.person_names.get(p)
            rows.append(
                {
                    "person_id": person_ids[p],
                    "account_id": accounts[acc] if acc >= 0 else None,
                    "full_name": names.most_common(1)[0][0] if names else None,
                    "email": self.person_emails[p],
                    "title": None,
                    "department": None,
                    "side": "seller" if seller[d] else ("buyer" if acc >= 0 else "partner"),
                }
            )
        people = pd.DataFrame(rows, columns=TABLES["people"].column_names)

        write_dataset(
            {
                "accounts": coerce_table("accounts", accounts_frame),
                "people": coerce_table("people", people),
                "deals": coerce_table("deals", deals),
            },
            out_dir,
            fmt=fmt,
        )
        report.tables = {"accounts": len(accounts_frame), "people": len(people), "deals": len(deals)}

        # Emails and recipients, in chunks.
        parent = np.frombuffer(self.m_parent, dtype=np.int64) if n else np.zeros(0, np.int64)
        deal_of_msg = np.full(n, -1, dtype=np.int64)
        deal_of_msg[kept_idx] = deal_key[kept_idx]
        with _ChunkWriter(out_dir, "emails", fmt) as writer:
            for start in range(0, len(kept_idx), _CHUNK_ROWS):
                idx = kept_idx[start : start + _CHUNK_ROWS]
                frame = pd.DataFrame(
                    {
                        "message_id": [self.node_ids[v] for v in node[idx].tolist()],
                        "deal_id": [deal_ids[v] for v in deal_of_msg[idx].tolist()],
                        "thread_id": [
                            self.node_ids[self.m_node[int(thread_first[t])]] for t in thread[idx].tolist()
                        ],
                        "sent_at": pd.to_datetime(sent[idx], unit="s", utc=True),
                        "sender_id": [person_ids[v] for v in sender_arr[idx].tolist()],
                        "in_reply_to": [self.node_ids[v] if v >= 0 else None for v in parent[idx].tolist()],
                    }
                )
                writer.write(frame)
            report.tables["emails"] = writer.rows
        r_idx = np.flatnonzero(r_kept)
        with _ChunkWriter(out_dir, "email_recipients", fmt) as writer:
            for start in range(0, len(r_idx), _CHUNK_ROWS):
                idx = r_idx[start : start + _CHUNK_ROWS]
                frame = pd.DataFrame(
                    {
                        "message_id": [self.node_ids[self.m_node[m]] for m in r_msg[idx].tolist()],
                        "person_id": [person_ids[p] for p in r_person[idx].tolist()],
                        "kind": [_KIND_NAMES[k] for k in r_kind[idx].tolist()],
                    }
                )
                writer.write(frame)
            report.tables["email_recipients"] = writer.rows


class _ChunkWriter:
    """Write one contract table in chunks (Parquet row groups or appended CSV), renamed into place at the end."""

    def __init__(self, out_dir: Path, table: str, fmt: Format) -> None:
        self.table, self.fmt = table, fmt
        self.target = out_dir / f"{table}.{fmt}"
        self.tmp = out_dir / f".{table}.{fmt}.tmp"
        self.rows = 0
        self._writer = None
        self._schema = None

    def __enter__(self) -> _ChunkWriter:
        return self

    def write(self, frame: pd.DataFrame) -> None:
        frame = coerce_table(self.table, frame)[TABLES[self.table].column_names]
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            if self._writer is None:
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self.tmp, self._schema)
            self._writer.write_table(table)
        else:
            text = frame.copy()
            for col in text.columns:
                if isinstance(text[col].dtype, pd.DatetimeTZDtype):
                    text[col] = (
                        text[col]
                        .dt.strftime("%Y-%m-%dT%H:%M:%S%z")
                        .str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
                    )
            text.to_csv(
                self.tmp, index=False, encoding="utf-8", mode="a" if self.rows else "w", header=not self.rows
            )
        self.rows += len(frame)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            if self._writer is not None:
                self._writer.close()
            self.tmp.unlink(missing_ok=True)
            return
        if self.rows == 0:
            self.write(pd.DataFrame(columns=TABLES[self.table].column_names))
        if self._writer is not None:
            self._writer.close()
        self.tmp.replace(self.target)


# -------------------------------------------------------------------------------------------------------------
# Readers


def _mbox_messages(path: Path, on_bytes: callable) -> Iterator[tuple[str, int, list[bytes]]]:  # type: ignore[valid-type]
    """Yield ("message", line, header lines), ("truncated", line, []) or ("not-mbox", line, []) for one mbox.

    A line starting with "From " separates messages when it follows a blank line (or the headers of a message
    cut short); body lines are read and dropped. Bytes read are reported to `on_bytes` for the progress bar.
    """
    state = "start"
    headers: list[bytes] = []
    start = 0
    prev_blank = True
    pending = 0
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, start=1):
            pending += len(line)
            if pending >= 1 << 20:
                on_bytes(pending)
                pending = 0
            if line.startswith(b"From ") and (state == "headers" or prev_blank):
                if state == "headers":
                    yield "truncated", start, []
                state, headers, start = "headers", [], n
                continue
            blank = not line.strip()
            if state == "headers":
                if blank:
                    yield "message", start, headers
                    state, headers, prev_blank = "body", [], True
                else:
                    headers.append(line)
            elif state == "start":
                if not blank:
                    yield "not-mbox", n, []
                    on_bytes(pending)
                    return
            else:
                prev_blank = blank
    on_bytes(pending)
    if state == "headers":
        yield "truncated", start, []


def _eml_headers(path: Path) -> list[bytes]:
    lines: list[bytes] = []
    with open(path, "rb") as fh:
        for n, line in enumerate(fh):
            if n == 0 and line.startswith(b"From "):
                continue  # an mbox-style envelope line some exporters add
            if not line.strip():
                break
            lines.append(line)
    return lines


def _options(
    account_domains: Iterable[str], seller_domains: Iterable[str], deal_by: str, thread_window_days: float
) -> _Options:
    accounts = tuple(dict.fromkeys(d for d in (normalise_domain(x) for x in account_domains) if d))
    sellers = tuple(dict.fromkeys(d for d in (normalise_domain(x) for x in seller_domains) if d))
    both = set(accounts) & set(sellers)
    if both:
        raise ImporterError(f"domain(s) {', '.join(sorted(both))} given both as account and seller domain")
    header: str | None = None
    if deal_by.lower().startswith("header:"):
        header = deal_by.split(":", 1)[1].strip().lower()
        if not header:
            raise ImporterError("--deal-by header:NAME needs a header name, e.g. header:X-Deal-Id")
        mode = "header"
    elif deal_by in ("thread", "account"):
        mode = deal_by
    else:
        raise ImporterError(f"--deal-by must be thread, account or header:NAME, not {deal_by!r}")
    if thread_window_days < 0:
        raise ImporterError("--thread-window-days must be >= 0")
    wanted = _BASE_HEADERS | ({header} if header else set())
    return _Options(accounts, sellers, mode, header, int(thread_window_days * 86400), frozenset(wanted))


def _progress(total: int, enabled: bool):  # noqa: ANN202
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="import", disable=not enabled, leave=False)


def import_mbox(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    account_domains: Iterable[str] = (),
    seller_domains: Iterable[str] = (),
    deal_by: str = "thread",
    thread_window_days: float = 14.0,
    fmt: Format = "parquet",
    overwrite: bool = False,
    progress: bool = False,
) -> ImportReport:
    """Import one or more mbox files (headers only) into a new dataset folder `out_dir`.

    Returns the `ImportReport`; records are messages. Raises `ImporterError` for user errors (missing file,
    existing dataset without `overwrite`, bad options).
    """
    opts = _options(account_domains, seller_domains, deal_by, thread_window_days)
    files = [Path(p) for p in paths]
    for f in files:
        if f.is_dir():
            raise ImporterError(
                f"{f} is a folder: pass the mbox file(s) in it (e.g. {f}/*.mbox); "
                "`influence import eml` takes folders of .eml files"
            )
        if not f.is_file():
            raise ImporterError(f"{f}: no such mbox file")
    out = Path(out_dir)
    clear_dataset_files(out, overwrite)
    report = ImportReport(source="mbox", out_dir=str(out))
    collector = _MailCollector(opts, report, files=[str(f) for f in files])
    with _progress(sum(f.stat().st_size for f in files), progress) as bar:
        for file_idx, f in enumerate(files):
            name = str(f)
            report.per_file.setdefault(name, {"read": 0, "imported": 0, "rejected": 0})
            for kind, line, lines in _mbox_messages(f, bar.update):
                report.read(name)
                if kind == "message":
                    try:
                        collector.add(file_idx, line, lines)
                    except Exception as exc:  # noqa: BLE001 - one bad record must never stop an import
                        report.reject(
                            name, f"line {line}", "", f"unreadable message: {type(exc).__name__}: {exc}"
                        )
                elif kind == "truncated":
                    report.reject(
                        name, f"line {line}", "", "truncated: the file ends inside this message's headers"
                    )
                else:
                    report.reject(
                        name, f"line {line}", "", "not an mbox file: it does not start with a 'From ' line"
                    )
    collector.finish(out, fmt)
    report.check()
    return report


def _eml_files(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() == ".eml")
        elif p.is_file():
            files.append(p)
        else:
            raise ImporterError(f"{p}: no such file or folder")
    return files


def import_eml(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    account_domains: Iterable[str] = (),
    seller_domains: Iterable[str] = (),
    deal_by: str = "thread",
    thread_window_days: float = 14.0,
    fmt: Format = "parquet",
    overwrite: bool = False,
    progress: bool = False,
) -> ImportReport:
    """Import .eml files (folders are searched recursively for `*.eml`) into a new dataset folder; headers only.

    Same options and report as `import_mbox`; each file is one record.
    """
    opts = _options(account_domains, seller_domains, deal_by, thread_window_days)
    files = _eml_files(paths)
    out = Path(out_dir)
    clear_dataset_files(out, overwrite)
    report = ImportReport(source="eml", out_dir=str(out))
    collector = _MailCollector(opts, report, files=[str(f) for f in files])
    with _progress(sum(f.stat().st_size for f in files), progress) as bar:
        for file_idx, f in enumerate(files):
            report.read(str(f))
            try:
                collector.add(file_idx, 0, _eml_headers(f))
            except Exception as exc:  # noqa: BLE001 - one bad record must never stop an import
                report.reject(str(f), "file", "", f"unreadable message: {type(exc).__name__}: {exc}")
            bar.update(f.stat().st_size)
    collector.finish(out, fmt)
    report.check()
    return report
