package apisonator

import (
	"strconv"
	"strings"
)

// timeFormat is Apisonator's TIME_FORMAT ('%Y-%m-%d %H:%M:%S %z').
const timeFormat = "2006-01-02 15:04:05 -0700"

// XML renders the status as Apisonator's Status#to_xml does.
func (s *Status) XML() []byte {
	var b strings.Builder
	b.Grow(256 + 200*len(s.Reports))
	b.WriteString(xmlHeader)
	b.WriteString("<status>")
	if s.Authorized {
		b.WriteString("<authorized>true</authorized>")
	} else {
		b.WriteString("<authorized>false</authorized><reason>")
		b.WriteString(s.Reason.Message) // Apisonator does not escape the reason
		b.WriteString("</reason>")
	}
	if s.OAuth {
		// Status#add_application_section: id and key as they are, the
		// redirect URL escaped.
		b.WriteString("<application><id>")
		b.WriteString(s.AppID)
		b.WriteString("</id><key>")
		b.WriteString(s.FirstKey)
		b.WriteString("</key><")
		b.WriteString(s.RedirectField)
		b.WriteString(">")
		b.WriteString(textEscaper.Replace(s.RedirectURL))
		b.WriteString("</")
		b.WriteString(s.RedirectField)
		b.WriteString("></application>")
	}
	b.WriteString("<plan>")
	b.WriteString(textEscaper.Replace(s.PlanName))
	b.WriteString("</plan>")
	if len(s.Reports) > 0 {
		b.WriteString("<usage_reports>")
		for _, r := range s.Reports {
			b.WriteString(`<usage_report metric="`)
			b.WriteString(r.Metric)
			b.WriteString(`" period="`)
			b.WriteString(string(r.Period))
			if r.Exceeded {
				b.WriteString(`" exceeded="true">`)
			} else {
				b.WriteString(`">`)
			}
			if !r.Start.IsZero() {
				b.WriteString("<period_start>")
				b.WriteString(r.Start.Format(timeFormat))
				b.WriteString("</period_start><period_end>")
				b.WriteString(r.End.Format(timeFormat))
				b.WriteString("</period_end>")
			}
			b.WriteString("<max_value>")
			b.WriteString(strconv.FormatInt(r.Max, 10))
			b.WriteString("</max_value><current_value>")
			b.WriteString(strconv.FormatInt(r.Current, 10))
			b.WriteString("</current_value></usage_report>")
		}
		b.WriteString("</usage_reports>")
	}
	// list_app_keys, then hierarchy, as Status#to_xml orders them (neither
	// escaped there).
	if s.AppKeys != nil {
		b.WriteString(`<app_keys app="`)
		b.WriteString(s.AppID)
		b.WriteString(`" svc="`)
		b.WriteString(s.ServiceID)
		b.WriteString(`">`)
		for _, k := range s.AppKeys {
			b.WriteString(`<key id="`)
			b.WriteString(k)
			b.WriteString(`"/>`)
		}
		b.WriteString("</app_keys>")
	}
	if s.Children != nil {
		// One entry per usage report, as Apisonator walks them.
		b.WriteString("<hierarchy>")
		for _, r := range s.Reports {
			b.WriteString(`<metric name="`)
			b.WriteString(r.Metric)
			b.WriteString(`" children="`)
			b.WriteString(strings.Join(s.Children[r.Metric], " "))
			b.WriteString(`"/>`)
		}
		b.WriteString("</hierarchy>")
	}
	b.WriteString("</status>")
	return []byte(b.String())
}
