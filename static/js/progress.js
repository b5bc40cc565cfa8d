/* A long job's progress, live: a restore request and the maintenance it puts the account in
   (templates/support/_progress.html), a recycle bin restore job (templates/recyclebin/_job.html).
   No inline script (the pages run under a Content-Security-Policy) and no build step: the
   element says everything in data attributes.

   <div data-progress-url="/support/requests/7/progress/"  JSON to poll (required)
        data-progress-done-url="/recyclebin/?job=7"        opened at the end (default: reload)
        data-progress-interval="1000"                      ms between polls (default 1000)
        data-progress-offline="Connection lost…">          shown in the note while polls fail
     <progress data-progress-bar max="100" value="40"></progress>
     <span data-progress-percent></span>
     <span data-progress-step></span>                      the JSON's step_label (a request)
     <span data-progress-summary></span>                   the JSON's summary (a bin job)
     <span data-progress-status></span> <p data-progress-error hidden></p> <p data-progress-note></p>
   </div>

   The JSON: {status, status_label, progress (0-100), step_label or summary, error, final}. Once
   it says final (completed, failed, rejected, cancelled) polling stops, and after a moment (the
   full bar seen) the page opens the done URL or reloads, showing the outcome, unless live.js
   has swapped the outcome in meanwhile (the box is gone: a reload then would only race with
   whatever the user opens next). After 30 failed
   polls in a row it gives up; without JavaScript the page says how to reload it by hand. A box
   that appears later (static/js/live.js, "live:updated") starts then. */
"use strict";

(() => {
  const progressStart = (box) => {
    if (box.dataset.progressStarted) {
      return; // the script is on the page twice, or live.js swapped in a started box
    }
    box.dataset.progressStarted = "1";
    const options = box.dataset;
    const interval = Number(options.progressInterval) || 1000;
    const find = (name) => box.querySelector(`[data-progress-${name}]`);
    const bar = find("bar");
    const percentText = find("percent");
    const statusText = find("status");
    const errorText = find("error");
    const note = find("note");
    const texts = Object.entries({ step: "step_label", summary: "summary" })
      .map(([name, key]) => [find(name), key])
      .filter(([element]) => element);
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
      texts.forEach(([element, key]) => {
        element.textContent = data[key] || "";
      });
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

    const finish = () => {
      if (!box.isConnected) {
        return; // live.js has put the outcome in its place already: no reload to race with
      }
      if (options.progressDoneUrl) {
        window.location.assign(options.progressDoneUrl);
      } else {
        window.location.reload();
      }
    };

    const poll = async () => {
      if (!box.isConnected) {
        return; // swapped out by live.js (the page shows the outcome): nothing left to follow
      }
      try {
        const response = await fetch(options.progressUrl, {
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
          window.setTimeout(finish, 800); // let the full bar be seen for a moment
          return;
        }
      } catch (error) {
        failures += 1;
        if (note && options.progressOffline) {
          note.textContent = options.progressOffline;
        }
        if (failures >= 30) {
          return; // the page's own "reload" hint remains
        }
      }
      window.setTimeout(poll, interval);
    };

    window.setTimeout(poll, interval);
  };

  const progressStartAll = () => document.querySelectorAll("[data-progress-url]").forEach(progressStart);
  progressStartAll();
  // A progress box that static/js/live.js swapped in (a request approved while its page is open).
  document.addEventListener("live:updated", progressStartAll);
})();
