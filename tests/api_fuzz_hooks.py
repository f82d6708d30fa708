"""Schemathesis hooks for tests/api-fuzz.sh: the rules a JSON Schema cannot state, each as the
OpenAPI documents state it in words, so that the fuzzer's "schema-valid" requests are the ones
the documents promise to take (`positive_data_acceptance`).

- Times (`format: date-time`) lie inside the district's records: not before its first records
  (`[records] earliest`, 2000-01-01 +08:00 by default), not after now. A JSON Schema has no
  bound on a date-time; the documents say it on every such field.
- A period's `to` is after its `from` (every report, list and rate query: the period is
  [from, to)); for the suggester's accuracy and the catalog's contradictions, at most 366
  days after it.
- A citizen gives a name and a phone unless `anonymous`; a resident ID number's last character
  is its GB 11643-1999 check character.
- A petition names an `accused_unit` for an accusation and only then, and no matter goes to
  the accused unit; `visit` comes with channel visit only, `joint_letter` with letter only.
- A review that sends a reply back gives its reason.
- A petition office's decision names the legal channel when not accepted, the concluded case
  when no longer accepted and the body when forwarded, each only then, and a written notice
  with every outcome but pending (and none with pending).
- A drill-down (`/v1/reports/cells`) names a column of its report, and `source` (required) and
  `category` only for `report=cases`, `unit` not for cases, `next_unit` only (and with `unit`)
  for `report=moves`.
- A field that names another record names one that exists: a case's `related_case_id` (the
  fuzzer has no case id to give, so it gives none), a succession's `successor` (a unit of the
  built-in registry other than the one in the path).

The coverage phase applies case hooks only, so each rule is a `map_case`.
"""

import copy
from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

DISTRICT = timezone(timedelta(hours=8))
EARLIEST = datetime(2000, 1, 2)


def _record_times():
    latest = datetime.utcnow() - timedelta(days=1)
    return st.datetimes(min_value=EARLIEST, max_value=latest, timezones=st.sampled_from([timezone.utc, DISTRICT])).map(
        lambda t: t.isoformat()
    )


schemathesis.openapi.format("date-time", _record_times())



def _inside_records(value):
    """A time the coverage phase drew (it ignores registered formats), moved inside the records."""
    if not isinstance(value, str):
        return value
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if t.tzinfo is None:
        return value
    earliest = EARLIEST.replace(tzinfo=DISTRICT)
    latest = datetime.now(timezone.utc) - timedelta(days=1)
    if t < earliest:
        return earliest.isoformat()
    if t > latest:
        return latest.isoformat()
    return value


TIME_FIELDS = ("from", "to", "as_of", "received_at", "at", "decided_at")


# Routes whose period is at most a year long (routing's `MAX_PERIOD_DAYS`).
YEAR_AT_MOST = ("/v1/suggester/accuracy", "/v1/catalog/contradictions")


def _period(query, longest=None):
    start, end = query.get("from"), query.get("to")
    if not (isinstance(start, str) and isinstance(end, str)):
        return
    try:
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        return
    if a.tzinfo is None or b.tzinfo is None:
        return
    if a > b:
        a, b = b, a
        query["from"], query["to"] = end, start
    elif a == b:
        b = b + timedelta(days=1)
        query["to"] = b.isoformat()
    if longest is not None and b - a > longest:
        query["from"] = (b - longest).isoformat()


WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def _id_number(value):
    if not (isinstance(value, str) and len(value) == 18 and value[:17].isdigit()):
        return value
    try:
        datetime.strptime(value[6:14], "%Y%m%d")
    except ValueError:
        # The pattern allows the 29th to the 31st of any month, and year 0.
        value = value[:6] + "2000" + value[10:12] + "28" + value[14:]
    total = sum(int(d) * w for d, w in zip(value[:17], WEIGHTS))
    return value[:17] + CHECK[total % 11]


def _citizen(citizen):
    if not isinstance(citizen, dict):
        return
    name, phone = citizen.get("name", ""), citizen.get("phone", "")
    if not citizen.get("anonymous") and not (str(name).strip() and str(phone).strip()):
        citizen["anonymous"] = True
    if "id_number" in citizen:
        citizen["id_number"] = _id_number(citizen["id_number"])


def _petition(body):
    accused = body.get("accused_unit")
    if body.get("purpose") == "accusation" and not accused:
        body["purpose"] = "other"
    if body.get("purpose") != "accusation" and accused is not None:
        body.pop("accused_unit")
    accused = body.get("accused_unit")
    for matter in body.get("matters") or []:
        if isinstance(matter, dict) and accused and matter.get("target_unit") == accused:
            matter.pop("target_unit")
    if body.get("channel") == "visit" and not body.get("visit"):
        body["channel"] = "letter"
    if body.get("channel") != "visit" and body.get("visit") is not None:
        body.pop("visit")
    if body.get("channel") != "letter" and body.get("joint_letter") is not None:
        body.pop("joint_letter")


def _clean(value):
    """Text without control characters or surrounding blanks (the rules trim and refuse them)."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable() or c in "\n\t").strip()


def _decision(d):
    if not isinstance(d, dict):
        return
    outcome = d.get("outcome")
    if not isinstance(outcome, str):
        return
    wanted = {"not_accepted": "legal_channel", "no_longer_accepted": "concluded_case", "forwarded": "forwarded_to"}
    for field, owner in [("legal_channel", "not_accepted"), ("concluded_case", "no_longer_accepted"), ("forwarded_to", "forwarded")]:
        if outcome != owner:
            d.pop(field, None)
    field = wanted.get(outcome)
    if field == "legal_channel" and not d.get(field):
        d[field] = "litigation"
    if field == "concluded_case" and not str(d.get(field) or "").strip():
        d[field] = "XF2019000001"
    if field == "forwarded_to":
        body = _clean(d.get(field))
        d[field] = body if 2 <= len(body) <= 100 else "泉州市丰泽区信访局"
    if outcome == "pending":
        d.pop("notice", None)
    elif not _clean(d.get("notice")):
        d["notice"] = "已书面告知信访人。"


CELL_COLUMNS = {
    "attachment-1": ["due", "expired", "satisfied", "basic", "unsatisfied"],
    "attachment-2": ["received", "in_progress", "completed", "overdue_view", "overdue_handling", "unsatisfied"],
    "attachment-3": ["received", "unsatisfied"],
    "cases": ["received"],
    "moves": ["moved"],
    "bounce": [
        "resolved",
        "resolved_on_first_assignment",
        "returns_asked",
        "returns_approved",
        "returns_rejected",
        "wrongful_returns",
        "history_warnings",
        "history_warnings_handed_on",
    ],
}


def _cells(query):
    report = query.get("report")
    if not isinstance(report, str) or report not in CELL_COLUMNS:
        return
    if query.get("column") not in CELL_COLUMNS[report]:
        query["column"] = CELL_COLUMNS[report][0]
    if report == "moves":
        for key in ("unit", "next_unit"):
            value = query.get(key)
            if not (isinstance(value, str) and value.strip()):
                query[key] = "chengguan" if key == "unit" else "zhujian"
    else:
        query.pop("next_unit", None)
    if report == "cases":
        query.pop("unit", None)
        if query.get("source") not in ("hotline", "petition"):
            query["source"] = "hotline"
    else:
        query.pop("source", None)
        query.pop("category", None)


@schemathesis.hook
def map_case(ctx, case):
    if isinstance(case.query, dict):
        case.query = {k: _inside_records(v) if k in TIME_FIELDS else v for k, v in case.query.items()}
        # A day short of the limit: a `to` with nanoseconds keeps them, the `from` made from it
        # by Python would not.
        _period(case.query, timedelta(days=365) if ctx.operation.path in YEAR_AT_MOST else None)
        if ctx.operation.path == "/v1/reports/cells":
            _cells(case.query)
    body = case.body
    if not isinstance(body, dict):
        return case
    body = copy.deepcopy(body)
    for key in TIME_FIELDS:
        if key in body:
            body[key] = _inside_records(body[key])
    path = ctx.operation.path
    if path in ("/v1/hotline/orders", "/v1/petitions"):
        _citizen(body.get("citizen"))
        body.pop("related_case_id", None)
    if path == "/v1/units/{code}/succession":
        code = (case.path_parameters or {}).get("code")
        body["successor"] = "zhujian" if code == "chengguan" else "chengguan"
    if path == "/v1/petitions":
        _petition(body)
        _decision(body.get("decision"))
        if isinstance(body.get("decision"), dict):
            # A decision at registration is made when the petition is received.
            body["decision"].pop("decided_at", None)
    if path == "/v1/petitions/{case_id}/decision":
        _decision(body)
    if path == "/v1/dispatches/{id}/review" and body.get("accept") is False and not str(body.get("reason", "")).strip():
        body["accept"] = True
    case.body = body
    return case
