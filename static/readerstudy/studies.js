// The JavaScriptCatalog (/jsi18n/, loaded by base.html) when it is there, looked up at call time.
const gettext = (msg) => (window.django && window.django.gettext ? window.django.gettext(msg) : msg);

// Copy buttons for invitation links: the link stays selectable in its field when the clipboard is unavailable.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = gettext("Copied");
  } catch {
    document.execCommand("copy");
    button.textContent = gettext("Copied");
  }
  setTimeout(() => { button.textContent = gettext("Copy"); }, 2000);
});

// Forms with data-confirm ask before submitting (closing a study cannot be undone).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Study form: only the chosen design's fields are shown; arms are rows with a kind selector.
(() => {
  const form = document.querySelector("form[data-study-form]");
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  if (!form) return;
  const design = form.querySelector('select[name="design"]');
  const rows = form.querySelector("[data-arm-rows]");
  const template = document.getElementById("arm-row-template");
  const defaultsNode = document.getElementById("design-default-arms");
  const defaults = defaultsNode ? JSON.parse(defaultsNode.textContent) : {};
  let armsEdited = false;

  const showForDesign = () => {
    const chosen = design.value;
    form.querySelectorAll("[data-designs]").forEach((node) => {
      node.hidden = !node.dataset.designs.split(" ").includes(chosen);
    });
  };
  const syncFaulty = (row) => {
    const kind = row.querySelector('select[name$="-kind"]');
    const cell = row.querySelector("[data-faulty]");
    if (kind && cell) cell.hidden = kind.value !== "ai";
  };
  const nextIndex = () => {
    let max = -1;
    rows.querySelectorAll('input[name$="-name"]').forEach((input) => {
      const match = input.name.match(/^arm-(\d+)-name$/);
      if (match) max = Math.max(max, Number(match[1]));
    });
    return max + 1;
  };
  const addRow = (values) => {
    const index = nextIndex();
    const html = template.innerHTML.replaceAll("__i__", String(index))
      .replaceAll("__n__", String(rows.querySelectorAll("[data-arm-row]").length + 1));
    rows.insertAdjacentHTML("beforeend", html);
    const row = rows.lastElementChild;
    if (values) {
      row.querySelector('input[name$="-name"]').value = values.name;
      row.querySelector('input[name$="-label"]').value = values.label;
      row.querySelector('select[name$="-kind"]').value = values.kind;
    }
    syncFaulty(row);
    return row;
  };

  if (design && !design.disabled) {
    design.addEventListener("change", () => {
      showForDesign();
      if (!armsEdited && rows && template && defaults[design.value]) {
        rows.replaceChildren();
        defaults[design.value].forEach((arm) => addRow(arm));
      }
    });
  }
  if (!rows) return;
  rows.addEventListener("input", () => { armsEdited = true; });
  rows.addEventListener("change", (event) => {
    armsEdited = true;
    const row = event.target.closest("[data-arm-row]");
    if (row) syncFaulty(row);
  });
  rows.addEventListener("click", (event) => {
    const button = event.target.closest("[data-remove-arm]");
    if (!button) return;
    armsEdited = true;
    button.closest("[data-arm-row]").remove();
  });
  const add = form.querySelector("[data-add-arm]");
  if (add && template) {
    add.addEventListener("click", () => {
      armsEdited = true;
      addRow(null).querySelector("input").focus();
    });
  }
})();
