{{- /*
    Checks of what Kubernetes would refuse and a JSON schema cannot say:
    each fails the render with the values involved named, instead of leaving
    the error to the API server in the middle of an install.
*/}}


{{- /*
    binderhub-service.validate-kubernetes:
        The release namespace (helm does not check it) and resources.
*/}}
{{- define "binderhub-service.validate-kubernetes" -}}
    {{- $ns := .Release.Namespace }}
    {{- if or (gt (len $ns) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $ns)) }}
        {{- fail (printf "\n\nThe namespace %q is not a Kubernetes namespace name (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)." $ns) }}
    {{- end }}
    {{- include "binderhub-service.check-requests" (list "resources" .Values.resources) }}
    {{- include "binderhub-service.check-requests" (list "dockerApi.resources" .Values.dockerApi.resources) }}
    {{- include "binderhub-service.check-requests" (list "dockerApi.imageCleaner.resources" .Values.dockerApi.imageCleaner.resources) }}
{{- end }}


{{- /*
    binderhub-service.check-requests:
        Kubernetes refuses a request above the limit of the same resource.
        Called with (list "values.key" resources).
*/}}
{{- define "binderhub-service.check-requests" -}}
    {{- $key := index . 0 }}
    {{- $resources := index . 1 | default dict }}
    {{- $requests := $resources.requests | default dict }}
    {{- $limits := $resources.limits | default dict }}
    {{- range $name, $request := $requests }}
        {{- if hasKey $limits $name }}
            {{- $limit := get $limits $name }}
            {{- $r := include "binderhub-service.quantity" $request | float64 }}
            {{- $l := include "binderhub-service.quantity" $limit | float64 }}
            {{- /* a relative margin for the rounding of equal amounts written differently */}}
            {{- if gt $r (mulf $l 1.000000001) }}
                {{- fail (printf "\n\n%s.requests.%s (%v) is more than %s.limits.%s (%v): Kubernetes refuses a request above its limit." $key $name $request $key $name $limit) }}
            {{- end }}
        {{- end }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.quantity:
        A Kubernetes quantity ("100m", "1.5Gi", "2e3", 4) as a plain number.
        The schema has already checked its form.
*/}}
{{- define "binderhub-service.quantity" -}}
    {{- $text := toString . }}
    {{- $number := regexReplaceAll "^\\+?([0-9]*\\.?[0-9]*)(.*)$" $text "${1}" | float64 }}
    {{- $suffix := regexReplaceAll "^\\+?([0-9]*\\.?[0-9]*)(.*)$" $text "${2}" }}
    {{- $binary := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
    {{- $decimal := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 }}
    {{- $fraction := dict "n" 1e9 "u" 1e6 "m" 1e3 }}
    {{- if hasKey $binary $suffix }}
        {{- mulf $number (get $binary $suffix) }}
    {{- else if hasKey $decimal $suffix }}
        {{- mulf $number (get $decimal $suffix) }}
    {{- else if hasKey $fraction $suffix }}
        {{- divf $number (get $fraction $suffix) }}
    {{- else }}
        {{- /* an exponent: e3, E-2, e+12 */}}
        {{- /* atoi: decimal ("09" is 9, where int would read octal) */}}
        {{- $exponent := substr 1 (len $suffix) $suffix | atoi }}
        {{- $scale := 1.0 }}
        {{- range until (max $exponent (sub 0 $exponent) | int) }}
            {{- $scale = mulf $scale 10 }}
        {{- end }}
        {{- if lt $exponent 0 }}
            {{- divf $number $scale }}
        {{- else }}
            {{- mulf $number $scale }}
        {{- end }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.check-secret-size:
        Kubernetes refuses a Secret whose values add up to more than 1 MiB.
        Called with (list "name" {key: content} "the values the content comes from").
*/}}
{{- define "binderhub-service.check-secret-size" -}}
    {{- $name := index . 0 }}
    {{- $sources := index . 2 }}
    {{- $size := 0 }}
    {{- range $key, $content := index . 1 }}
        {{- $size = add $size (len (toString $content)) }}
    {{- end }}
    {{- if gt (int $size) 1048576 }}
        {{- fail (printf "\n\n%s: the Secret %s would hold %d bytes, more than the 1048576 (1 MiB) Kubernetes allows in one Secret." $sources $name (int $size)) }}
    {{- end }}
{{- end }}
