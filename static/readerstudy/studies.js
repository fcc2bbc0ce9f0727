// Copy buttons for invitation links: the link stays selectable in its field when the clipboard is unavailable.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = "Copied";
  } catch {
    document.execCommand("copy");
    button.textContent = "Copied";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// Forms with data-confirm ask before submitting (closing a study cannot be undone).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
