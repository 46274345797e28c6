"""A Streamlit session driven over the server's own websocket protocol, as a browser drives it, for
benchmarks of the real server: no browser, so the client costs the server's machine almost nothing.

The protocol (the classes are in the installed `streamlit.proto`): connect to `/_stcore/stream` with the
subprotocol `streamlit`; each run is a `BackMsg` `rerun_script` carrying the page, the query string and the
widget states the client holds, answered by `ForwardMsg`s (the page's elements as deltas) that end in
`script_finished`. Widgets are found by the key the page gave them (their ids end in `-KEY`) or, for one
without a key, by its label.
"""

from __future__ import annotations

import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import connect

_ENDED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR}


class ScriptError(RuntimeError):
    """The page raised: the message is the exception the page showed."""


class Session:
    """One browser tab: `run()` reruns the page, as a click or a widget change does, and returns the
    seconds until the server finished the run."""

    def __init__(self, url: str, page: str = "", query: str = "", timeout_s: float = 120.0, cookie: str = ""):
        """`cookie`: the Cookie header the browser would send (e.g. a proxy's sticky-session cookie)."""
        self.page, self.query, self.timeout_s = page, query, timeout_s
        self._ws = connect(url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream", subprotocols=["streamlit"],
                           additional_headers={"Cookie": cookie} if cookie else None,
                           open_timeout=timeout_s, max_size=None, ping_interval=None,  # no keepalive pings
                           legacy=True)  # a connection this object holds and closes, not a context manager
        self.served_by = self._ws.response.headers.get("X-VT-Server")  # the process, behind scripts/serve.sh
        self._values: dict[str, WidgetState] = {}  # what the tab holds: widget id -> state
        self.widgets: dict[str, str] = {}  # key, or label for a widget without one -> id, as the last run showed
        self.texts: list[str] = []  # the text of the last run's markdown, captions and alerts
        self.options: dict[str, list[str]] = {}  # widget id -> its options' texts, for `choose`

    def close(self) -> None:
        self._ws.close()

    def set(self, key: str, value: int | float | str | bool) -> None:
        """Give a widget (by key or label) a value, sent with every later run (as the tab keeps it)."""
        state = WidgetState(id=self._id(key))
        if isinstance(value, bool):
            state.bool_value = value
        elif isinstance(value, int):
            state.int_value = value
        elif isinstance(value, float):
            state.double_value = value
        else:
            state.string_value = value
        self._values[state.id] = state

    def choose(self, key: str, index: int) -> None:
        """Choose an option of a radio or a selectbox (by key or label): the tab sends the option's text."""
        self.set(key, self.options[self._id(key)][index])

    def run(self, click: str | None = None) -> float:
        """Rerun the page (clicking the button with key or label `click`, if given); seconds until it
        finished, through any `st.rerun()` the click caused."""
        message = BackMsg()
        client = message.rerun_script
        client.query_string, client.page_name = self.query, self.page
        client.widget_states.widgets.extend(self._values.values())
        if click is not None:
            client.widget_states.widgets.append(WidgetState(id=self._id(click), trigger_value=True))
        started = time.perf_counter()
        self._ws.send(message.SerializeToString())
        self.texts, self.widgets = [], {}
        deadline = started + self.timeout_s
        while True:
            reply = ForwardMsg()
            reply.ParseFromString(self._ws.recv(timeout=max(0.0, deadline - time.perf_counter())))
            kind = reply.WhichOneof("type")
            if kind == "delta" and reply.delta.WhichOneof("type") == "new_element":
                self._saw(reply.delta.new_element)
            elif kind == "script_finished" and reply.script_finished in _ENDED:
                shown = set(self.widgets.values())
                self._values = {i: v for i, v in self._values.items() if i in shown}  # as a tab holds them
                return time.perf_counter() - started
            elif kind == "script_finished" and reply.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.texts, self.widgets = [], {}  # st.rerun(): the next run draws the page afresh

    def _saw(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            raise ScriptError(f"{element.exception.type}: {element.exception.message}")
        inner = getattr(element, kind)
        if getattr(inner, "id", "").startswith("$$ID-"):
            key = inner.id.split("-", 2)[2]  # $$ID-<hash>-<key>; a form's submit button: FormSubmitter:<form>-<label>
            self.widgets[inner.label if key == "None" or key.startswith("FormSubmitter:") else key] = inner.id
            if kind in ("radio", "selectbox"):
                self.options[inner.id] = list(inner.options)
        for field in ("body", "label", "text", "code_text"):
            if isinstance(getattr(inner, field, None), str) and getattr(inner, field):
                self.texts.append(getattr(inner, field))

    def _id(self, key: str) -> str:
        if key not in self.widgets:
            raise KeyError(f"no widget {key!r} on the page (seen: {sorted(self.widgets)})")
        return self.widgets[key]
