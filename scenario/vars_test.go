package scenario

import (
	"maps"
	"testing"
)

func TestVars(t *testing.T) {
	src := []byte("rate: ${RATE:-200}\nvus: ${VUS:-10}\nname: ${NAME}\nagain: ${RATE:-300}\n")
	got := Vars(src, map[string]string{"VUS": "20", "NAME": "x", "UNUSED": "1"})
	want := map[string]string{"RATE": "200", "VUS": "20", "NAME": "x"}
	if !maps.Equal(got, want) {
		t.Errorf("Vars = %v, want %v", got, want)
	}
	if got := Vars([]byte("no references"), nil); len(got) != 0 {
		t.Errorf("no references: %v", got)
	}
}
