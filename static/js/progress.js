/* The progress of a restore, live, without inline script (the pages may run under a
   Content-Security-Policy) and without a build step.

   <section data-progress-url="/support/requests/7/progress/" data-progress-interval="1000">
     <progress data-progress-bar max="100" value="40"></progress>
     <span data-progress-percent></span> <span data-progress-step></span>
     <span data-progress-status></span> <p data-progress-error hidden></p> <p data-progress-note></p>
   </section>

   Polls the JSON endpoint ({status, status_label, progress, step_label, error, final}) and
   updates the bar. At a final state (completed, failed, rejected, cancelled) it stops and
   reloads the page once, which then shows the outcome. Without JavaScript the page says how to
   reload it by hand. */
"use strict";

document.querySelectorAll("[data-progress-url]").forEach((box) => {
  const url = box.dataset.progressUrl;
  const interval = Number(box.dataset.progressInterval) || 1000;
  const find = (name) => box.querySelector(`[data-progress-${name}]`);
  const bar = find("bar");
  const percentText = find("percent");
  const stepText = find("step");
  const statusText = find("status");
  const errorText = find("error");
  const note = find("note");
  const percent = new Intl.NumberFormat(document.documentElement.lang || undefined, {
    style: "percent",
    maximumFractionDigits: 0,
  });
  let failures = 0;

  const show = (data) => {
    const value = Math.max(0, Math.min(100, Number(data.progress) || 0));
    if (bar) {
      bar.value = value;
      bar.textContent = percent.format(value / 100);
    }
    if (percentText) {
      percentText.textContent = percent.format(value / 100);
    }
    if (stepText) {
      stepText.textContent = data.step_label || "";
    }
    if (statusText) {
      statusText.textContent = data.status_label || data.status;
      statusText.className = `status status--${data.status}`;
    }
    if (errorText) {
      errorText.textContent = data.error || "";
      errorText.hidden = !data.error;
    }
    box.classList.toggle("is-complete", data.status === "completed");
    box.classList.toggle("is-failed", data.status === "failed");
  };

  const poll = async () => {
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) {
        throw new Error(`HTTP ${response.status}`);
      }
      const data = await response.json();
      failures = 0;
      show(data);
      if (data.final) {
        // Let the full bar be seen for a moment, then show the outcome.
        window.setTimeout(() => window.location.reload(), 800);
        return;
      }
    } catch (error) {
      failures += 1;
      if (note && box.dataset.progressOffline) {
        note.textContent = box.dataset.progressOffline;
      }
      if (failures >= 30) {
        return; // the page's own "reload" hint remains
      }
    }
    window.setTimeout(poll, interval);
  };

  window.setTimeout(poll, interval);
});
