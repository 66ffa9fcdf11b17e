{{- /*
    dockerApi.extraFiles: files mounted into the container engine's container
    from a Secret. Each entry (the key names the file in the Secret) has a
    mountPath and exactly one of:
      stringData   the file's text;
      binaryData   the file's content, base64 encoded;
      data         an object written as YAML, JSON or TOML, chosen by the
                   mountPath's extension (.yaml/.yml, .json, .toml).
*/}}


{{- define "binderhub-service.extra-files.check" -}}
    {{- $key := index . 0 }}
    {{- $file := index . 1 }}
    {{- if not $file.mountPath }}
        {{- fail (printf "\n\ndockerApi.extraFiles.%s.mountPath is required." $key) }}
    {{- end }}
    {{- $count := 0 }}
    {{- range $field := list "data" "stringData" "binaryData" }}
        {{- if hasKey $file $field }}
            {{- $count = add1 $count }}
        {{- end }}
    {{- end }}
    {{- if ne (int $count) 1 }}
        {{- fail (printf "\n\ndockerApi.extraFiles.%s must have exactly one of data, stringData and binaryData." $key) }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.extra-files.data:
        A Secret's "data" map: the binaryData entries, as JSON.
*/}}
{{- define "binderhub-service.extra-files.data" -}}
    {{- $out := dict }}
    {{- range $key, $file := . }}
        {{- include "binderhub-service.extra-files.check" (list $key $file) }}
        {{- if hasKey $file "binaryData" }}
            {{- $_ := set $out $key (nospace $file.binaryData) }}
        {{- end }}
    {{- end }}
    {{- toJson $out }}
{{- end }}


{{- /*
    binderhub-service.extra-files.stringData:
        A Secret's "stringData" map: the stringData and data entries, as
        JSON (which, unlike YAML, keeps a final newline through fromJson).
*/}}
{{- define "binderhub-service.extra-files.stringData" -}}
    {{- $out := dict }}
    {{- range $key, $file := . }}
        {{- include "binderhub-service.extra-files.check" (list $key $file) }}
        {{- if hasKey $file "stringData" }}
            {{- $_ := set $out $key (toString $file.stringData) }}
        {{- else if hasKey $file "data" }}
            {{- $ext := ext $file.mountPath }}
            {{- if or (eq $ext ".yaml") (eq $ext ".yml") }}
                {{- $_ := set $out $key (toYaml $file.data) }}
            {{- else if eq $ext ".json" }}
                {{- $_ := set $out $key (toPrettyJson $file.data) }}
            {{- else if eq $ext ".toml" }}
                {{- $_ := set $out $key (toToml $file.data) }}
            {{- else }}
                {{- fail (printf "\n\ndockerApi.extraFiles.%s uses data, so its mountPath (%s) must end with .yaml, .yml, .json or .toml." $key $file.mountPath) }}
            {{- end }}
        {{- end }}
    {{- end }}
    {{- toJson $out }}
{{- end }}
