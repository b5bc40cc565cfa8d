/* A recycle bin restore job's progress, live, without inline script (the pages run under a
   Content-Security-Policy) and without a build step. Same approach as progress.js:

   <div data-bin-job-url="/recyclebin/jobs/7/progress/" data-bin-job-done-url="/recyclebin/?job=7">
     <progress data-bin-job-bar max="100" value="40"></progress>
     <span data-bin-job-percent></span> <span data-bin-job-summary></span>
     <span data-bin-job-status></span> <p data-bin-job-error hidden></p> <p data-bin-job-note></p>
   </div>

   Polls the JSON endpoint ({status, status_label, progress, summary, error, final}) and updates
   the bar. Once the job has ended (completed, failed) it stops and opens the done URL, the bin
   page showing the outcome. Without JavaScript the page says how to reload it by hand. */
"use strict";

document.querySelectorAll("[data-bin-job-url]").forEach((box) => {
  const url = box.dataset.binJobUrl;
  const doneUrl = box.dataset.binJobDoneUrl || window.location.href;
  const interval = Number(box.dataset.binJobInterval) || 1000;
  const find = (name) => box.querySelector(`[data-bin-job-${name}]`);
  const bar = find("bar");
  const percentText = find("percent");
  const summaryText = find("summary");
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
    const text = percent.format(value / 100);
    if (bar) {
      bar.value = value;
      bar.textContent = text;
    }
    if (percentText) {
      percentText.textContent = text;
    }
    if (summaryText) {
      summaryText.textContent = data.summary || "";
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
        // Let the full bar be seen for a moment, then show the outcome (and the list as
        // it is now).
        window.setTimeout(() => window.location.assign(doneUrl), 800);
        return;
      }
    } catch (error) {
      failures += 1;
      if (note && box.dataset.binJobOffline) {
        note.textContent = box.dataset.binJobOffline;
      }
      if (failures >= 30) {
        return; // the page's own "reload" hint remains
      }
    }
    window.setTimeout(poll, interval);
  };

  window.setTimeout(poll, interval);
});
