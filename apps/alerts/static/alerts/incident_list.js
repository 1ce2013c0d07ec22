/* The incident list refreshes itself: every few seconds (data-refresh-seconds) it reads
   this same URL (its filters, search and page) and swaps the list's form for the new one,
   without reloading the page. It waits while the tab is hidden, a row is ticked, an
   action is chosen or a field of the list is being typed in, so it never interrupts one. */
(function () {
  "use strict";
  const script = document.currentScript;
  const seconds = Math.max(1, Number(script && script.dataset.refreshSeconds) || 30);
  const pad = (n) => String(n).padStart(2, "0");
  let busy = false;
  let missed = false; // a refresh skipped while hidden: do it when the tab shows again
  let stopped = false;

  function say(text) {
    const status = document.getElementById("incident-list-refresh");
    if (status) status.textContent = text;
  }

  function idle(form) {
    if (document.visibilityState !== "visible") return false;
    if (form.querySelector("input.action-select:checked, #action-toggle:checked")) return false;
    const action = form.querySelector("select[name=action]");
    if (action && action.value) return false;
    // Typing or choosing in the list's fields (an unticked checkbox keeping the focus
    // after a click is not: the page would otherwise stay still until a click elsewhere).
    const focused = document.activeElement;
    return !(focused && form.contains(focused) && focused.matches("select, textarea, input:not([type=checkbox])"));
  }

  async function refresh() {
    const form = document.getElementById("changelist-form");
    if (stopped || busy || !form) return;
    if (!idle(form)) {
      missed = document.visibilityState !== "visible";
      return;
    }
    busy = true;
    try {
      const response = await fetch(location.href, {
        credentials: "same-origin",
        // The header keeps the read from taking (and so losing) a message meant for a page.
        headers: { Accept: "text/html", "X-Incident-List-Refresh": "1" },
        cache: "no-store",
      });
      if (response.redirected && response.url.includes("/login/")) {
        stopped = true;
        say("Signed out: reload the page to sign in again.");
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const html = await response.text();
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("changelist-form");
      // Ticked meanwhile: keep what the user is doing, try again next time.
      if (!fresh || !idle(form)) return;
      form.replaceChildren(...Array.from(fresh.childNodes, (node) => document.importNode(node, true)));
      // The admin's action checkboxes (actions.js) bind to the rows they found: bind the new ones.
      const boxes = form.querySelectorAll("tr input.action-select");
      if (boxes.length && typeof window.Actions === "function") window.Actions(boxes);
      const now = new Date();
      say(`Updated ${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())} UTC; refreshes every ${seconds} s while nothing is selected.`);
      document.dispatchEvent(new CustomEvent("incidents:refreshed"));
    } catch (error) {
      say(`Could not refresh (${error.message}); trying again in ${seconds} s.`);
    } finally {
      busy = false;
    }
  }

  setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && missed) {
      missed = false;
      refresh();
    }
  });
})();
