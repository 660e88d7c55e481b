package report

// page is the report's HTML: inline style only, no script, nothing fetched.
const page = `
{{define "style"}}<style>
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1800px;padding:0 24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px} h3{font-size:14px;margin:18px 0 2px}
.meta{color:#555;font-size:13px} .note{color:#666;font-size:12px;margin:0 0 4px}
table{border-collapse:collapse;font-size:13px;background:#fff} th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top} th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:bold;color:#fff;font-size:13px}
.pass{background:#2e7d32;color:#fff} .fail{background:#c62828;color:#fff} .error{background:#ef6c00;color:#fff} .neutral{background:#eee;color:#222}
td.pass,td.fail,td.error{font-weight:bold;text-align:center}
.figure{background:#fff;border:1px solid #e0e0e0;padding:6px 10px;margin:6px 0 14px;max-width:1000px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px} .pair .figure{max-width:none}
.query{font-family:monospace;font-size:11px;color:#555;word-break:break-all}
</style>{{end}}

{{define "assertions"}}<table>
<tr><th>assertion</th><th>kind</th><th>value</th><th>bound</th><th>verdict</th><th>what it checks</th></tr>
{{range .Assertions}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td class="num">{{.Measured}}</td><td class="num">{{.Limit}}</td><td class="{{cls .Status}}">{{.Status}}</td>
<td>{{.Description}}{{if .Error}}<div class="note">error: {{.Error}}</div>{{end}}{{if .Query}}<div class="query">{{.Query}}</div>{{end}}</td></tr>
{{else}}<tr><td colspan="6">no assertions</td></tr>{{end}}
</table>{{end}}

{{define "chaos"}}{{if .Chaos}}<table>
<tr><th>event</th><th>kind</th><th>planned</th><th>start</th><th>took</th><th>targets</th><th>error</th></tr>
{{$o := .LoadStart}}{{range .Chaos}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Planned}}</td><td>{{offset $o .Start}}</td><td>{{secs .Start .End}}</td><td>{{join .Targets ", "}}</td><td>{{.Error}}</td></tr>
{{range .Steps}}<tr><td></td><td>↳ {{.Name}}</td><td></td><td>{{offset $o .Start}}</td><td>{{secs .Start .End}}</td><td></td><td>{{.Error}}</td></tr>{{end}}
{{end}}</table>{{else}}<p class="note">no chaos events</p>{{end}}{{end}}

{{define "restarts"}}{{if .Restarts}}<h2>Container restarts</h2>
<p class="note">containers that restarted during the run (a liveness probe or the OOM killer); their previous logs are in pod-logs/.</p>
<table><tr><th>pod</th><th>container</th><th>restarts</th><th>last reason</th><th>exit code</th><th>cause</th></tr>
{{range .Restarts}}<tr><td>{{.Pod}}</td><td>{{.Container}}</td><td class="num">{{.Count}}</td><td>{{.Reason}}</td><td class="num">{{.ExitCode}}</td><td>{{.Cause}}</td></tr>{{end}}
</table>{{end}}{{end}}

{{define "leases"}}{{with .Leases}}{{if .Holders}}<h2>Lease holders</h2>
<p class="note">who held the namespace's {{.Leases}} Lease(s) over the run (every span in leases.json); one holder of every lease is the leader-election hot spot.</p>
<table><tr><th>pod</th><th>leases held</th><th>at the end</th><th>since</th><th>until</th><th>lease-seconds</th></tr>
{{$o := $.LoadStart}}{{$n := .Leases}}{{range .Holders}}<tr><td>{{.Pod}}</td><td class="num">{{.Leases}}</td><td class="num">{{.AtEnd}}/{{$n}}</td><td>{{if .AtEnd}}{{offset $o .Since}}{{else}}-{{end}}</td><td>{{if .AtEnd}}the end{{else}}{{offset $o .Last}}{{end}}</td><td class="num">{{printf "%.0f" .HeldSeconds}}</td></tr>{{end}}
</table>{{end}}{{end}}{{end}}

{{define "runmeta"}}<div class="meta">run {{.Run.RunID}} · started {{time .Run.Started}} · took {{.Duration}}{{with .Run.Provider}} · provider {{.}}{{end}}{{with .Run.Namespace}} · namespace {{.}}{{end}}{{with .Run.TestID}} · testid {{.}}{{end}}</div>
{{if .Versions}}<div class="meta">{{range .Versions}}{{index . 0}} {{index . 1}} · {{end}}</div>{{end}}
{{with .Run.Error}}<p class="fail" style="padding:6px">harness error: {{.}}</p>{{end}}{{end}}

{{define "run"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>perfrun {{.Name}} {{.Run.RunID}}</title>{{template "style"}}</head><body>
<h1>perfrun: {{.Name}} <span class="badge {{cls .Run.Verdict}}">{{.Run.Verdict}}</span></h1>
{{template "runmeta" .}}
<h2>Verdict</h2>
{{template "assertions" .Run}}
<h2>Chaos timeline</h2>
{{template "chaos" .Run}}
{{template "restarts" .Run}}
{{template "leases" .Run}}
<h2>Plots</h2>
<p class="note">time is from the load's start; red marks are chaos events, grey bands their steps and the drain.</p>
{{with .LeftOut}}<p class="note left-out">left out, as this run did not exercise them: {{join . "; "}}.</p>{{end}}
{{range .Plots}}<div class="figure" data-plot="{{.Name}}"><h3>{{.Title}}</h3>{{with .Note}}<p class="note">{{.}}</p>{{end}}{{.SVG}}</div>
{{else}}<p class="note">no time series in this result</p>{{end}}
<h2>Steps</h2>
<table><tr><th>step</th><th>start</th><th>seconds</th><th>error</th></tr>
{{range .Run.Steps}}<tr><td>{{.Name}}</td><td>{{clock .Start}}</td><td class="num">{{printf "%.1f" .Seconds}}</td><td>{{.Error}}</td></tr>{{end}}
</table>
</body></html>
{{end}}

{{define "compare"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>perfrun compare {{.C.Scenario}}</title>{{template "style"}}</head><body>
<h1>perfrun compare: {{.C.Scenario}} <span class="badge {{if .C.Regressed}}fail{{else}}pass{{end}}">{{if .C.Regressed}}regressed{{else}}no regression{{end}}</span></h1>
<div class="meta">base: {{len .C.Base}} run(s) · candidate: {{len .C.Candidate}} run(s) · Mann–Whitney U, alpha {{.C.Alpha}}</div>
<h2>Verdict</h2>
<table><tr><th>metric</th><th>base</th><th>candidate</th><th>change</th><th>significance</th><th>verdict</th><th>tolerance</th></tr>
{{range .Rows}}<tr><td>{{.Metric}}</td><td class="num">{{.Base}}</td><td class="num">{{.Candidate}}</td><td class="num">{{.Change}}</td><td>{{.Significance}}</td><td class="{{cls .Verdict}}">{{.Verdict}}</td><td>{{.Tolerance}}</td></tr>{{end}}
</table>
<p><b>{{.Summary}}</b></p>
{{range .C.Notes}}<p class="note">note: {{.}}</p>{{end}}
<h2>Runs</h2>
<div class="pair"><div><h3>base</h3>{{template "runmeta" .Base}}{{range .C.Base}}<div class="query">{{.}}</div>{{end}}</div>
<div><h3>candidate</h3>{{template "runmeta" .Candidate}}{{range .C.Candidate}}<div class="query">{{.}}</div>{{end}}</div></div>
<h2>Plots: first base run beside first candidate run</h2>
<p class="note">one scale per pair; time is from each load's start; red marks are chaos events.</p>
{{range .Pairs}}<h3>{{.Title}}</h3>{{with .Note}}<p class="note">{{.}}</p>{{end}}
<div class="pair"><div class="figure"><div class="note">base</div>{{.Base}}</div><div class="figure"><div class="note">candidate</div>{{.Cand}}</div></div>
{{end}}
</body></html>
{{end}}
`
