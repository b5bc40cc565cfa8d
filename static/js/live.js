/* Live updates where people wait for each other (DESIGN.md, "Interfaces"): the header's unread
   badge on every page, and a restore request's chat, status and proposal on both sides, within
   seconds and without a reload. No build step and no inline script (the pages run under a
   Content-Security-Policy): the page says everything in data attributes.

   <body data-live-url="/live/"              JSON to poll: {unread, unread_title, request?}
         data-live-request="7"                a request page: its id ...
         data-live-version="proposed.41">     ... and the version it shows

   When the polled version differs, the page fetches itself and, for each element marked
   data-live="name", swaps in the new one if it changed (what is typed or ticked in it is kept);
   a list marked data-live-list gets the items (data-id) it does not have yet, appended, so a
   screen reader announces only the new chat lines. Then "live:updated" is dispatched on the
   document (static/js/progress.js starts a progress bar that appeared). Without JavaScript the
   pages work as before: a reload shows everything. */
"use strict";

(() => {
  const body = document.body;
  const url = body.dataset.liveUrl;
  if (!url) {
    return;
  }
  const requestId = body.dataset.liveRequest || "";
  let version = body.dataset.liveVersion || "";
  const interval = Number(body.dataset.liveInterval) || 1500;
  let busy = false;

  const showUnread = (count, title) => {
    const link = document.querySelector(".notiflink");
    if (!link) {
      return;
    }
    let badge = link.querySelector("[data-unread]");
    if (count > 0) {
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "navlink-count";
        link.append(" ", badge);
      }
      badge.dataset.unread = String(count);
      badge.textContent = String(count);
      link.title = title || "";
    } else if (badge) {
      badge.remove();
      link.removeAttribute("title");
    }
  };

  // What the user typed or ticked inside an element, to put back after a swap.
  const fieldsOf = (element) =>
    Array.from(element.querySelectorAll("textarea, input, select")).filter(
      (field) => field.name && field.type !== "hidden",
    );
  const keyOf = (field) => `${field.name}|${field.type === "checkbox" || field.type === "radio" ? field.value : ""}`;

  const swap = (current, fresh) => {
    if (current.outerHTML === fresh.outerHTML) {
      return;
    }
    const kept = new Map(
      fieldsOf(current).map((field) => [
        keyOf(field),
        field.type === "checkbox" || field.type === "radio" ? field.checked : field.value,
      ]),
    );
    const focused = document.activeElement && current.contains(document.activeElement)
      ? document.activeElement.id
      : "";
    const node = document.importNode(fresh, true);
    current.replaceWith(node);
    fieldsOf(node).forEach((field) => {
      const key = keyOf(field);
      if (!kept.has(key)) {
        return;
      }
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = kept.get(key);
      } else {
        field.value = kept.get(key);
      }
    });
    if (focused) {
      const again = document.getElementById(focused);
      if (again) {
        again.focus();
      }
    }
  };

  const append = (list, fresh) => {
    const have = new Set(Array.from(list.children, (item) => item.dataset.id));
    Array.from(fresh.children)
      .filter((item) => !have.has(item.dataset.id))
      .forEach((item) => list.append(document.importNode(item, true)));
    list.hidden = fresh.hidden;
  };

  const refresh = async () => {
    const response = await fetch(window.location.href, {
      headers: { Accept: "text/html", "X-Live": "1" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (!response.ok) {
      return false;
    }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    document.querySelectorAll("[data-live-list]").forEach((list) => {
      const fresh = page.querySelector(`[data-live-list="${list.dataset.liveList}"]`);
      if (fresh) {
        append(list, fresh);
      }
    });
    document.querySelectorAll("[data-live]").forEach((part) => {
      const fresh = page.querySelector(`[data-live="${part.dataset.live}"]`);
      if (fresh) {
        swap(part, fresh);
      }
    });
    const title = page.querySelector("title");
    if (title) {
      document.title = title.textContent;
    }
    document.dispatchEvent(new CustomEvent("live:updated"));
    return true;
  };

  const poll = async () => {
    if (!busy) {
      busy = true;
      try {
        const query = requestId ? `?request=${encodeURIComponent(requestId)}` : "";
        const response = await fetch(url + query, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (response.ok) {
          const data = await response.json();
          const seen = data.request ? data.request.version : "";
          if (requestId && seen && seen !== version && (await refresh())) {
            version = seen;
          }
          showUnread(Number(data.unread) || 0, data.unread_title);
        }
      } catch (error) {
        // Offline for a moment: the next poll tries again.
      } finally {
        busy = false;
      }
    }
    window.setTimeout(poll, interval);
  };

  window.setTimeout(poll, interval);
})();
