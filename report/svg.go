package report

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The plots are inline SVG written here rather than by a plotting library:
// the report must open with no network and stay small, and a line chart
// with a time axis, shaded event bands and a legend is a few hundred lines.

// Line is one plotted series.
type Line struct {
	Label  string
	Points []XY
}

// XY is a point: time and value.
type XY struct {
	T time.Time
	V float64
}

// Band is a shaded time interval with a label (a chaos event, the load).
type Band struct {
	Label      string
	Start, End time.Time
	// Marker draws the band as an event (red) rather than a window (grey).
	Marker bool
}

// Chart is a time-series plot.
type Chart struct {
	Title string
	Unit  string
	Lines []Line
	Bands []Band
	// Origin is t=0 on the axis (the load start): ticks read +1m30s.
	Origin time.Time
	// From and To fix the x range (zero: the data's).
	From, To time.Time
	// YMax fixes the top of the y axis (0: from the data), so that side by
	// side plots share a scale.
	YMax float64
}

const (
	chartW, chartH           = 860, 260
	padL, padR, padT, padB   = 64, 16, 22, 34
	legendRowH, legendPerRow = 16, 4
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// DataMax is the largest value in the chart's lines (0 when empty).
func (c Chart) DataMax() float64 {
	m := 0.0
	for _, l := range c.Lines {
		for _, p := range l.Points {
			if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				m = math.Max(m, p.V)
			}
		}
	}
	return m
}

func (c Chart) xRange() (time.Time, time.Time) {
	from, to := c.From, c.To
	if from.IsZero() || to.IsZero() {
		var lo, hi time.Time
		for _, l := range c.Lines {
			for _, p := range l.Points {
				if lo.IsZero() || p.T.Before(lo) {
					lo = p.T
				}
				if hi.IsZero() || p.T.After(hi) {
					hi = p.T
				}
			}
		}
		for _, b := range c.Bands {
			if lo.IsZero() || b.Start.Before(lo) {
				lo = b.Start
			}
			if hi.IsZero() || b.End.After(hi) {
				hi = b.End
			}
		}
		if from.IsZero() {
			from = lo
		}
		if to.IsZero() {
			to = hi
		}
	}
	if !to.After(from) {
		to = from.Add(time.Second)
	}
	return from, to
}

// SVG renders the chart.
func (c Chart) SVG() string {
	var b strings.Builder
	rows := (len(c.Lines) + legendPerRow - 1) / legendPerRow
	h := chartH + rows*legendRowH
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" class="chart">`, chartW, h)
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(c.Title))
	x0, x1, y0, y1 := float64(padL), float64(chartW-padR), float64(chartH-padB), float64(padT)
	from, to := c.xRange()
	span := to.Sub(from).Seconds()
	xOf := func(t time.Time) float64 { return x0 + (x1-x0)*t.Sub(from).Seconds()/span }
	ymax := c.YMax
	if ymax <= 0 {
		ymax = c.DataMax()
	}
	step := niceStep(ymax, 5)
	ytop := math.Max(step, math.Ceil(ymax*1.05/step)*step)
	yOf := func(v float64) float64 { return y0 - (y0-y1)*v/ytop }

	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#fff" stroke="#ccc"/>`, x0, y1, x1-x0, y0-y1)
	// Bands under the lines: events first, their steps over them.
	bands := slices.Clone(c.Bands)
	slices.SortStableFunc(bands, func(a, b Band) int {
		switch {
		case a.Marker == b.Marker:
			return 0
		case a.Marker:
			return -1
		}
		return 1
	})
	var marks strings.Builder
	for _, bd := range bands {
		bx0, bx1 := clamp(xOf(bd.Start), x0, x1), clamp(xOf(bd.End), x0, x1)
		if bx1-bx0 < 2 {
			bx1 = bx0 + 2
		}
		fill, text := "#e4e4e4", "#666"
		if bd.Marker {
			fill, text = "#fdd", "#b00"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="%.1f" height="%g" fill="%s" opacity="0.8"><title>%s</title></rect>`,
			bx0, y1, bx1-bx0, y0-y1, fill, html.EscapeString(bd.Label))
		if bd.Marker {
			fmt.Fprintf(&marks, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#b00" stroke-dasharray="4 3"/>`, bx0, y1, bx0, y0)
			fmt.Fprintf(&marks, `<text x="%.1f" y="%g" font-size="11" fill="%s">%s</text>`, bx0+3, y1+12, text, html.EscapeString(bd.Label))
		}
	}
	b.WriteString(marks.String()) // over every band, so no step hides a label
	// Y grid and ticks.
	for v := 0.0; v <= ytop+step/2; v += step {
		y := yOf(v)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#e5e5e5"/>`, x0, y, x1, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#444">%s</text>`, x0-5, y+4, tickLabel(v))
	}
	if c.Unit != "" {
		fmt.Fprintf(&b, `<text x="12" y="%g" font-size="11" fill="#444" transform="rotate(-90 12 %g)" text-anchor="middle">%s</text>`, (y0+y1)/2, (y0+y1)/2, html.EscapeString(c.Unit))
	}
	// X ticks: offsets from the origin.
	origin := c.Origin
	if origin.IsZero() {
		origin = from
	}
	xs := timeStep(span, 8)
	first := math.Ceil(from.Sub(origin).Seconds()/xs) * xs
	for s := first; s <= to.Sub(origin).Seconds()+1e-9; s += xs {
		x := xOf(origin.Add(time.Duration(s * float64(time.Second))))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#999"/>`, x, y0, x, y0+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle" fill="#444">%s</text>`, x, y0+16, offsetLabel(s))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end" fill="#666">time from load start</text>`, x1, y0+30)
	// Lines.
	for i, l := range c.Lines {
		color := palette[i%len(palette)]
		var d strings.Builder
		pen := false
		gap := 2.5 * minStep(l.Points).Seconds() // a missing scrape lifts the pen
		var last time.Time
		for _, p := range l.Points {
			if math.IsNaN(p.V) || math.IsInf(p.V, 0) || p.T.Before(from) || p.T.After(to) {
				pen = false
				continue
			}
			op := 'L'
			if !pen || (gap > 0 && p.T.Sub(last).Seconds() > gap) {
				op = 'M'
			}
			last = p.T
			fmt.Fprintf(&d, "%c%.1f %.1f", op, xOf(p.T), yOf(p.V))
			pen = true
		}
		if len(l.Points) == 1 { // a single sample: a dot, so it shows
			p := l.Points[0]
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, xOf(p.T), yOf(p.V), color)
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6" data-line="%s"><title>%s</title></path>`, d.String(), color, html.EscapeString(l.Label), html.EscapeString(l.Label))
		lx := x0 + float64(i%legendPerRow)*(x1-x0)/legendPerRow
		ly := float64(chartH + (i/legendPerRow)*legendRowH)
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="12" height="4" fill="%s"/>`, lx, ly-4, color)
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" fill="#222">%s</text>`, lx+16, ly, html.EscapeString(truncate(l.Label, 34)))
	}
	if len(c.Lines) == 0 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="13" text-anchor="middle" fill="#999">no data</text>`, (x0+x1)/2, (y0+y1)/2)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// Bar is one bar of a bar chart.
type Bar struct {
	Label string
	V     float64
}

// BarsSVG renders a horizontal bar chart (values per pod).
func BarsSVG(title, unit string, bars []Bar, vmax float64) string {
	const rowH = 22
	h := padT + len(bars)*rowH + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" class="chart"><title>%s</title>`, chartW, h, html.EscapeString(title))
	for _, br := range bars {
		vmax = math.Max(vmax, br.V)
	}
	if vmax <= 0 {
		vmax = 1
	}
	x0, x1 := 180.0, float64(chartW-120)
	for i, br := range bars {
		y := float64(padT + i*rowH)
		w := (x1 - x0) * math.Max(br.V, 0) / vmax
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="end" fill="#222">%s</text>`, x0-6, y+14, html.EscapeString(truncate(br.Label, 28)))
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%.1f" height="16" fill="%s"/>`, x0, y+2, w, palette[i%len(palette)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="12" fill="#222">%s %s</text>`, x0+w+6, y+14, tickLabel(br.V), html.EscapeString(unit))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// minStep is the smallest interval between consecutive points.
func minStep(ps []XY) time.Duration {
	var m time.Duration
	for i := 1; i < len(ps); i++ {
		if d := ps[i].T.Sub(ps[i-1].T); d > 0 && (m == 0 || d < m) {
			m = d
		}
	}
	return m
}

func clamp(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// niceStep is a 1, 2 or 5 × 10^k step giving about n ticks up to max.
func niceStep(max float64, n int) float64 {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// timeStep picks a readable tick step in seconds for a span.
func timeStep(span float64, n int) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400} {
		if span/s <= float64(n) {
			return s
		}
	}
	return 28800
}

func offsetLabel(s float64) string {
	sign := "+"
	if s < 0 {
		sign, s = "-", -s
	}
	total := int64(math.Round(s))
	if total == 0 {
		return "0"
	}
	h, m, sec := total/3600, total/60%60, total%60
	var b strings.Builder
	b.WriteString(sign)
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

func tickLabel(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
