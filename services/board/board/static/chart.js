// A small SVG bar chart of this week's attainment per plan x priority (no library needed).
const NS = "http://www.w3.org/2000/svg";

export function attainmentChart(container, rows) {
  container.replaceChildren();
  if (!rows.length) { container.textContent = "No SLA clock decided this week yet."; return; }
  const barH = 18, gap = 6, labelW = 120, width = 320;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${rows.length * (barH + gap)}`);
  svg.setAttribute("width", "100%");
  svg.setAttribute("aria-hidden", "true");
  rows.forEach((r, i) => {
    const y = i * (barH + gap);
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", 0); label.setAttribute("y", y + barH - 5);
    label.textContent = `${r.plan ?? "none"} / ${r.priority ?? "?"}`;
    const pct = r.met_percent ?? 0;
    const bar = document.createElementNS(NS, "rect");
    bar.setAttribute("x", labelW); bar.setAttribute("y", y);
    bar.setAttribute("width", Math.max(1, ((width - labelW - 50) * pct) / 100)); bar.setAttribute("height", barH);
    bar.setAttribute("class", pct < 90 ? "bar low" : "bar");
    const value = document.createElementNS(NS, "text");
    value.setAttribute("x", width - 45); value.setAttribute("y", y + barH - 5);
    value.textContent = `${pct}%`;
    svg.append(label, bar, value);
  });
  container.append(svg);
}
