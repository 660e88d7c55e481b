package suites_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/perfrun/perfrun/runner"
	"github.com/perfrun/perfrun/scenario"
	"github.com/perfrun/perfrun/suites"
)

// repo is the repository root: scenario paths are relative to it.
var repo = func() string {
	r, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return r
}()

func TestSuites(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "perfrun suites")
}

// These need no cluster: they run in every go test ./... and catch a
// scenario that would fail before deploying.
var _ = Describe("scenario files", func() {
	files, _ := filepath.Glob(filepath.Join(repo, "suites", "scenarios", "*.yaml"))

	It("are there", func() {
		Expect(files).NotTo(BeEmpty())
	})

	for _, f := range files {
		rel, _ := filepath.Rel(repo, f)
		It(rel+" decodes, validates and its overlay renders", func() {
			s, err := scenario.LoadFile(f, nil)
			Expect(err).NotTo(HaveOccurred())
			// As --validate checks it: the overlay (over a third-party
			// system's staged release) renders, chaos fits, the script exists.
			Expect(runner.Preflight(context.Background(), s, repo, "")).To(Succeed())
		})
	}

	Context("the good/bad pairs", func() {
		for _, p := range suites.Pairs {
			for _, m := range []suites.Mode{p.Good, p.Bad} {
				It(p.Property+": "+m.Scenario+" asserts "+joined(m.Assertions), func() {
					s, err := scenario.LoadFile(filepath.Join(repo, m.Scenario), nil)
					Expect(err).NotTo(HaveOccurred())
					var names []string
					for _, a := range s.Spec.Assertions {
						names = append(names, a.Name)
					}
					for _, want := range m.Assertions {
						Expect(names).To(ContainElement(want), "the assertion that decides %s", p.Property)
					}
				})
			}
			It(p.Property+": good and bad modes differ in their system or chaos only, not in their bounds", func() {
				good, err := scenario.LoadFile(filepath.Join(repo, p.Good.Scenario), nil)
				Expect(err).NotTo(HaveOccurred())
				bad, err := scenario.LoadFile(filepath.Join(repo, p.Bad.Scenario), nil)
				Expect(err).NotTo(HaveOccurred())
				// A known-bad mode must fail because the system is wrong,
				// never because its bound is tighter than the good mode's.
				for _, name := range p.Good.Assertions {
					ga, ba := find(good, name), find(bad, name)
					if ga == nil || ba == nil || !slices.Contains(p.Bad.Assertions, name) {
						continue
					}
					ga.Description, ba.Description = "", ""
					if ga.Disruption != nil && ba.Disruption != nil {
						// Replicas are filled from the system; compare the rest.
						g, b := *ga.Disruption, *ba.Disruption
						g.Replicas, b.Replicas = 0, 0
						Expect(b).To(Equal(g), "assertion %s", name)
						continue
					}
					Expect(*ba).To(Equal(*ga), "assertion %s", name)
				}
			})
		}
	})

	It("include the smoke scenario", func() {
		Expect(filepath.Join(repo, suites.SmokeScenario)).To(BeAnExistingFile())
		_, err := os.Stat(filepath.Join(repo, suites.SmokeScenario))
		Expect(err).NotTo(HaveOccurred())
	})
})

func find(s *scenario.Scenario, name string) *scenario.Assertion {
	for i := range s.Spec.Assertions {
		if s.Spec.Assertions[i].Name == name {
			return &s.Spec.Assertions[i]
		}
	}
	return nil
}

func joined(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
