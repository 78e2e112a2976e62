"""A minimal start page so a new user sees something at http://127.0.0.1:8000/.

Answers are inserted with textContent only (never innerHTML): model output is never rendered as
HTML and no external resource is ever fetched.
"""

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Souverain</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; img-src 'self'">
<style>body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}
input{width:70%;padding:.5rem}button{padding:.5rem 1rem}.c{color:#555;font-size:.9rem;margin:.4rem 0}
#answer{white-space:pre-wrap;margin-top:1rem}</style></head>
<body><h1>Souverain</h1><p>Ask your documents. API documentation: <a href="/docs">/docs</a>.</p>
<form id="f"><input id="q" placeholder="How many days of paid leave do employees get?" autofocus>
<button>Ask</button></form><div id="answer"></div><div id="cites"></div>
<script>
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const a = document.getElementById('answer'), c = document.getElementById('cites');
  a.textContent = '…'; c.replaceChildren();
  const r = await fetch('/api/v1/ask', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({question: document.getElementById('q').value})});
  const d = await r.json();
  a.textContent = r.ok ? d.answer : (d.detail || 'error');
  for (const x of (d.citations || [])) {
    const p = document.createElement('div'); p.className = 'c';
    p.textContent = `[${x.n}] ${x.title}, p. ${x.page}: “${x.quote}”`; c.appendChild(p);
  }
});
</script></body></html>
"""
