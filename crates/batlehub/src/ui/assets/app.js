// BatleHub web UI enhancements. Every page works without this file.
(function () {
  "use strict";
  var root = document.documentElement;
  var stored = null;
  try { stored = localStorage.getItem("batlehub-theme"); } catch (e) { /* storage may be off */ }
  if (stored === "dark" || stored === "light") root.setAttribute("data-theme", stored);

  document.addEventListener("DOMContentLoaded", function () {
    // Theme toggle.
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var dark = root.getAttribute("data-theme") === "dark" ||
          (!root.getAttribute("data-theme") && window.matchMedia("(prefers-color-scheme: dark)").matches);
        var next = dark ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("batlehub-theme", next); } catch (e) { /* ignore */ }
      });
    }

    // Copy buttons: copy the text of the element named by data-copy.
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var el = document.getElementById(b.getAttribute("data-copy"));
        if (!el) return;
        var text = el.textContent;
        var done = function () {
          var old = b.textContent; b.textContent = "Copied"; b.classList.add("done");
          setTimeout(function () { b.textContent = old; b.classList.remove("done"); }, 1500);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { select(el); });
        } else { select(el); }
      });
    });
    function select(el) {
      var r = document.createRange(); r.selectNodeContents(el);
      var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    }

    // Tabs: [role=tablist] buttons show the panel named by aria-controls.
    document.querySelectorAll("[role=tablist]").forEach(function (list) {
      var tabs = list.querySelectorAll("[role=tab]");
      function show(tab) {
        tabs.forEach(function (t) {
          var on = t === tab;
          t.setAttribute("aria-selected", on ? "true" : "false");
          t.tabIndex = on ? 0 : -1;
          var panel = document.getElementById(t.getAttribute("aria-controls"));
          if (panel) panel.hidden = !on;
        });
      }
      tabs.forEach(function (t, i) {
        t.hidden = false;
        t.addEventListener("click", function () { show(t); });
        t.addEventListener("keydown", function (e) {
          if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
          var j = e.key === "ArrowRight" ? i + 1 : i - 1;
          var next = tabs[(j + tabs.length) % tabs.length]; next.focus(); show(next);
        });
      });
      list.hidden = false;
      if (tabs.length) show(tabs[0]);
    });

    // Forms with data-confirm (revoking tokens) ask first.
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });

    // Table rows with data-href act as links (the first cell holds a real link too).
    document.querySelectorAll("tr[data-href]").forEach(function (row) {
      row.classList.add("clickable");
      row.addEventListener("click", function (e) {
        if (e.target.closest("a,button,summary,select,input,form")) return;
        window.location.href = row.getAttribute("data-href");
      });
    });

    // Upload card: show the extra fields of the chosen registry's type only.
    var reg = document.getElementById("upload-registry");
    if (reg) {
      var sync = function () {
        var kind = reg.options[reg.selectedIndex] ? reg.options[reg.selectedIndex].getAttribute("data-kind") : "";
        document.querySelectorAll("[data-upload-kind]").forEach(function (f) {
          var on = f.getAttribute("data-upload-kind") === kind;
          f.hidden = !on;
          f.querySelectorAll("input").forEach(function (i) { i.disabled = !on; });
        });
        var hint = document.getElementById("upload-hint");
        var opt = reg.options[reg.selectedIndex];
        if (hint && opt) hint.textContent = opt.getAttribute("data-hint") || "";
        var file = document.getElementById("upload-file");
        if (file && opt) file.setAttribute("accept", opt.getAttribute("data-accept") || "");
      };
      reg.addEventListener("change", sync); sync();
    }
  });
})();
