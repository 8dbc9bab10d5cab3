// Package gitops runs what GitOps tools read of a SidecarSet: the Argo CD health check in
// config/argocd/health.lua, in the same Lua interpreter Argo CD embeds. Its tests run it on status fixtures;
// the end-to-end suite runs it on the SidecarSets the operator writes.
package gitops

import (
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
)

// ArgoCDHealth runs the health check on a SidecarSet (as unstructured content) as Argo CD does: the object
// as the global obj, the returned table read for status and message. root is the repository root.
func ArgoCDHealth(root string, obj map[string]any) (status, message string, err error) {
	src, err := os.ReadFile(filepath.Join(root, "config", "argocd", "health.lua"))
	if err != nil {
		return "", "", err
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(src)); err != nil {
		return "", "", fmt.Errorf("the health check failed to run: %w", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the health check returned %s, not a table", L.Get(-1).Type())
	}
	return lua.LVAsString(hs.RawGetString("status")), lua.LVAsString(hs.RawGetString("message")), nil
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case bool:
		return lua.LBool(x)
	default:
		return lua.LNil
	}
}
