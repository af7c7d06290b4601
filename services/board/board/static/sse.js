// Reads the board's Server-Sent Events with fetch(), because EventSource cannot send the
// Authorization header (and the key must never go in a URL). Starts after change `from` when
// given (the list's `change`: nothing between the list's read and the stream is missed) and
// reconnects with Last-Event-ID.
export function follow(url, key, onEvent, onState, from = null) {
  let lastId = from === null ? null : String(from);
  let stopped = false;
  const controller = { abort: null };

  async function once() {
    const abort = new AbortController();
    controller.abort = () => abort.abort();
    const headers = { Authorization: `Bearer ${key}`, Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const response = await fetch(url, { headers, signal: abort.signal, cache: "no-store" });
    if (response.status === 401) throw Object.assign(new Error("unauthorized"), { status: 401 });
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = { event: "message", data: [], id: null };
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "data") event.data.push(val);
          else if (field === "event") event.event = val;
          else if (field === "id") event.id = val;
        }
        if (event.id !== null) lastId = event.id;
        if (event.data.length) onEvent(event.event, JSON.parse(event.data.join("\n")));
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (e) {
        if (e.status === 401) { onState("unauthorized"); return; }
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return { stop() { stopped = true; controller.abort && controller.abort(); } };
}
