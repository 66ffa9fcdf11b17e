{{- /*
    binderhub-service.tpl-json:
        A value (list, map, string, ...) as JSON, each string in it rendered
        with `tpl` first (so "{{ .Release.Name }}" in extraEnv works, as in the
        2i2c chart). Strings are templated one by one and their results
        written as JSON strings: whatever a template produces (newlines,
        quotes, ": ") stays inside its string and cannot add YAML keys.
        Called with (list value $).
*/}}
{{- define "binderhub-service.tpl-json" -}}
    {{- $value := index . 0 }}
    {{- $root := index . 1 }}
    {{- if kindIs "string" $value }}
        {{- tpl $value $root | toJson }}
    {{- else if kindIs "map" $value }}
        {{- print "{" }}
        {{- range $i, $key := keys $value | sortAlpha }}
            {{- if $i }},{{ end }}
            {{- toJson $key }}:{{ include "binderhub-service.tpl-json" (list (get $value $key) $root) }}
        {{- end }}
        {{- print "}" }}
    {{- else if kindIs "slice" $value }}
        {{- print "[" }}
        {{- range $i, $item := $value }}
            {{- if $i }},{{ end }}
            {{- include "binderhub-service.tpl-json" (list $item $root) }}
        {{- end }}
        {{- print "]" }}
    {{- else }}
        {{- toJson $value }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.tpl-list:
        A list of values (extraEnv, extraVolumes, extraVolumeMounts) with
        their strings rendered by `tpl`, as YAML.
        Called with (list value $).
*/}}
{{- define "binderhub-service.tpl-list" -}}
    {{- include "binderhub-service.tpl-json" . | fromJsonArray | toYaml }}
{{- end }}
