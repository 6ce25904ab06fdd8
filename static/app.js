// Slotlens pages work without JavaScript; this only smooths a few edges.

// A form submitted twice in a row (a double click, an impatient second click)
// is sent once. The server refuses duplicate exports too; this spares the round trip.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.submitting) {
    event.preventDefault();
    return;
  }
  form.dataset.submitting = "yes";
  setTimeout(() => delete form.dataset.submitting, 3000);
});

// Coming back with the Back button shows the page as it was: forms are usable again.
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form[data-submitting]").forEach((form) => delete form.dataset.submitting);
});
