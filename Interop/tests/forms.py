"""A tiny HTML form driver standing in for a person at a browser (stdlib html.parser only).

submit_form    fill and post the first <form> of a page, without following redirects
sign_in        authorize URL -> sign-in form(s) -> 302 to the redirect URI; returns its query (code, state, ...)
continue_sign_in  the same walk from a page already reached (e.g. a verification-code page)
device_sign_in verification page -> user code -> sign-in form(s) -> "done" page; returns the page text
element_text   the text of the element with an id (e.g. "secret" on the authenticator registration page)

A field's value may be a callable: it is called with the page's response when a form asks for that
field, so a verification code (`otc`) is computed for the moment the page is shown.
"""

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

MAX_STEPS = 10
_UNSENT_TYPES = {"submit", "button", "reset", "image", "file"}
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Form:
    def __init__(self, attrs):
        self.action = attrs.get("action") or ""
        self.method = (attrs.get("method") or "get").lower()
        self.inputs = []  # (name, value, type)

    def visible_names(self):
        return {name for name, _, kind in self.inputs if kind != "hidden"}

    def values(self):
        return {name: value for name, value, _ in self.inputs}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.chunks = [], []
        self.by_id = {}  # element id -> its text
        self._open = []  # (tag, id or None) of the open non-void elements
        self._form = None
        self._skip = 0  # inside <script>/<style>
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if a.get("id"):
            self.by_id.setdefault(a["id"], "")
        if tag not in _VOID_TAGS:
            self._open.append((tag, a.get("id")))
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "form" and self._form is None:
            self._form = Form(a)
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in _UNSENT_TYPES or (kind in ("checkbox", "radio") and "checked" not in a):
                return
            self._form.inputs.append((a["name"], a.get("value", "on" if kind in ("checkbox", "radio") else ""), kind))
        elif tag == "textarea" and self._form is not None and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea and self._form is not None:
            self._form.inputs.append((self._textarea[0], self._textarea[1], "textarea"))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data
        if not self._skip:
            self.chunks.append(data)
            for _, element_id in self._open:
                if element_id:
                    self.by_id[element_id] += data

    @property
    def text(self):
        return re.sub(r"\s+", " ", " ".join(self.chunks)).strip()


def parse(response):
    page = _Page()
    page.feed(response.text)
    page.close()
    return page


def describe(response):
    """What a failed assertion shows: status, URL and the page's visible text."""
    text = parse(response).text if "html" in response.headers.get("Content-Type", "html") else response.text
    return f"HTTP {response.status_code} at {response.url}\n{text[:2000]}"


def element_text(response, element_id):
    """The whitespace-normalised text of the element with this id, or None when the page has none."""
    text = parse(response).by_id.get(element_id)
    return None if text is None else re.sub(r"\s+", " ", text).strip()


def first_form(response, allow_error=False):
    """The page's first form; fails, showing the page, on an HTTP error, an AADSTS error text or no form.

    allow_error=True accepts a page that shows an error next to its form (a form shown again).
    """
    page = parse(response)
    assert response.status_code == 200, f"expected a page, got:\n{describe(response)}"
    if not allow_error:
        assert "AADSTS" not in page.text, f"the page shows an error:\n{describe(response)}"
    assert page.forms, f"no <form> on the page:\n{describe(response)}"
    return page.forms[0]


def submit_form(session, response, fields=None, allow_error=False):
    """Post the page's first form with its inputs (hidden ones too) and `fields` filled in.

    Only fields the form has are filled; the others are ignored, so one dict of credentials can drive
    several pages. A callable value is called with `response` (only when the form has that field).
    Cookies stay in `session`; redirects are not followed.
    """
    form = first_form(response, allow_error=allow_error)
    data = form.values()
    data.update({k: (v(response) if callable(v) else v) for k, v in (fields or {}).items() if k in data})
    url = urljoin(response.url, form.action or response.url)
    if form.method == "post":
        return session.post(url, data=data, allow_redirects=False)
    return session.get(url, params=data, allow_redirects=False)


def _walk(session, response, fields, finished):
    """Follow redirects and submit forms until finished(response) returns something other than None."""
    filled = set()
    for _ in range(MAX_STEPS):
        result = finished(response)
        if result is not None:
            return result
        if response.is_redirect:
            response = session.get(urljoin(response.url, response.headers["Location"]), allow_redirects=False)
            continue
        asked = first_form(response).visible_names() & fields.keys()
        assert not asked & filled, f"asked again for {sorted(asked & filled)}:\n{describe(response)}"
        filled |= asked
        response = submit_form(session, response, fields)
    raise AssertionError(f"no result after {MAX_STEPS} pages; last one:\n{describe(response)}")


def _single(query):
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


def _no_code(response):
    raise AssertionError(f"the page asks for a verification code, but the sign-in was given none (otc=):\n{describe(response)}")


def _sign_in_fields(username, password, otc):
    """What the sign-in pages may ask for: the credentials, then a verification code (`otc`: a string,
    or a callable given the code page's response, e.g. to read the key a registration page shows)."""
    fields = {"username": username, "password": password, "otc": otc if otc is not None else _no_code}
    return {k: v for k, v in fields.items() if v is not None}


def sign_in(session, authorize_url, username, password, redirect_uri=None, otc=None):
    """Sign in at an /authorize URL; returns the redirect's query as a dict (code, state, ...).

    The redirect URI defaults to the redirect_uri parameter of the authorize URL. A form_post
    response (an auto-submitting form aimed at the redirect URI) is accepted too. When a page asks for a
    verification code, `otc` gives it (without one, the walk fails showing the page); a code page shown
    again (a refused code) fails the walk too.
    """
    redirect_uri = redirect_uri or _single(urlsplit(authorize_url).query)["redirect_uri"]
    first = session.get(authorize_url, allow_redirects=False)
    return continue_sign_in(session, first, redirect_uri, username, password, otc=otc)


def continue_sign_in(session, response, redirect_uri, username=None, password=None, otc=None):
    """sign_in's walk from a response already in hand (a sign-in or verification-code page, a redirect)."""

    def finished(response):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            return _single(urlsplit(location).query) if location.startswith(redirect_uri) else None
        forms = parse(response).forms if response.status_code == 200 else []
        if forms and urljoin(response.url, forms[0].action).startswith(redirect_uri):
            return forms[0].values()
        return None

    result = _walk(session, response, _sign_in_fields(username, password, otc), finished)
    assert "code" in result, f"redirect to {redirect_uri} carried no code: {result}"
    return result


def device_sign_in(session, verification_uri, user_code, username, password, otc=None):
    """Enter the user code and sign in on the device verification page; returns the final page's text.

    `otc` is as for sign_in.
    """

    def finished(response):
        if response.status_code != 200:
            return None
        page = parse(response)
        assert "AADSTS" not in page.text, f"the page shows an error:\n{describe(response)}"
        if not page.forms:
            return page.text
        if "complete" in page.text.lower() and not page.forms[0].visible_names() & fields.keys():
            return page.text
        return None

    fields = {"user_code": user_code, **_sign_in_fields(username, password, otc)}
    return _walk(session, session.get(verification_uri, allow_redirects=False), fields, finished)
