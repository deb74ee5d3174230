// Signing in and out of the pages: the session lives in an HttpOnly cookie this script never sees.

export async function whoAmI() {
  const reply = await fetch("/session", {credentials: "same-origin"});
  return reply.ok ? reply.json() : null;
}

export async function signIn(role, name, secret) {
  const reply = await fetch("/session", {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({role, name, secret}),
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(body.error || "sign-in failed");
  return body;
}

export async function signOut() {
  await fetch("/session", {method: "DELETE", credentials: "same-origin"});
}

// Shows the sign-in form until a person of `role` is signed in, then calls `ready(who)`.
export async function gate(role, ready) {
  const form = document.getElementById("signin");
  const error = document.getElementById("signin-error");
  const who = document.getElementById("who");
  const out = document.getElementById("signout");
  out.addEventListener("click", async () => { await signOut(); location.reload(); });
  const start = (person) => {
    form.hidden = true;
    who.textContent = `Signed in as ${person.name}`;
    who.hidden = false;
    out.hidden = false;
    ready(person);
  };
  const current = await whoAmI();
  if (current && current.role === role) { start(current); return; }
  form.hidden = false;
  document.getElementById("signin-name").focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      start(await signIn(role, form.elements.name.value.trim(), form.elements.secret.value));
      form.reset();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}
