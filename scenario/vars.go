package scenario

// Vars are the ${NAME} references of a scenario file as Render resolves
// them: the value given (--set), else the reference's default. A name with
// neither is left out (Render refuses such a file). A given value the file
// does not reference is left out too: it changed nothing. The result
// records these, so that compare can name a --set that differs.
func Vars(src []byte, given map[string]string) map[string]string {
	out := map[string]string{}
	for _, sub := range varRef.FindAllSubmatch(src, -1) {
		name := string(sub[1])
		if v, ok := given[name]; ok {
			out[name] = v
		} else if _, seen := out[name]; !seen && sub[2] != nil {
			out[name] = string(sub[3])
		}
	}
	return out
}
