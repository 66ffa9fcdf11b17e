{{- /*
    Labels of the chart's Kubernetes objects.

    Every label is made here. Selectors use only the stable labels
    (binderhub-service.selectorLabels plus a component), never the chart
    version, so that upgrades keep matching the same pods.
*/}}


{{- /*
    binderhub-service.selectorLabels:
        Identify this release's objects.
*/}}
{{- define "binderhub-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "binderhub-service.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}


{{- /*
    binderhub-service.labels:
        Common labels for every object's metadata.
*/}}
{{- define "binderhub-service.labels" -}}
{{ include "binderhub-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- end }}


{{- /* The BinderHub pod. */}}
{{- define "binderhub-service.binderhub.selectorLabels" -}}
{{ include "binderhub-service.selectorLabels" . }}
app.kubernetes.io/component: binderhub
{{- end }}

{{- define "binderhub-service.binderhub.labels" -}}
{{ include "binderhub-service.labels" . }}
app.kubernetes.io/component: binderhub
{{- end }}

{{- /*
    Labels only on the BinderHub pod (not on its selector): access to the hub
    through z2jh's NetworkPolicy (always, as in the 2i2c chart: operators who
    wired the hub by hand rely on it; podLabels can set it to "false"), and
    the user's podLabels. The chart's own labels win over podLabels.
*/}}
{{- define "binderhub-service.binderhub.podLabels" -}}
{{- $labels := include "binderhub-service.binderhub.labels" . | fromYaml }}
{{- $labels = merge $labels (.Values.podLabels | default dict) (dict "hub.jupyter.org/network-access-hub" "true") }}
{{- toYaml $labels }}
{{- end }}


{{- /* The container engine pods (docker-api DaemonSet). */}}
{{- define "binderhub-service.docker-api.selectorLabels" -}}
{{ include "binderhub-service.selectorLabels" . }}
app.kubernetes.io/component: docker-api
{{- end }}

{{- define "binderhub-service.docker-api.labels" -}}
{{ include "binderhub-service.labels" . }}
app.kubernetes.io/component: docker-api
{{- end }}

{{- /*
    BinderHub's KubernetesBuildExecutor.sticky_builds looks for the nodes of
    pods labelled "component=image-builder,app=binder" in the build namespace
    to send builds of a repository to the same node (and its layer cache).
*/}}
{{- define "binderhub-service.docker-api.podLabels" -}}
{{ include "binderhub-service.docker-api.labels" . }}
app: binder
component: image-builder
{{- end }}


{{- /*
    Build pods are created by BinderHub, which labels them
    "component: binderhub-build" (and nothing release specific).
*/}}
{{- define "binderhub-service.build-pods.selectorLabels" -}}
component: binderhub-build
{{- end }}


{{- /* The pod run by `helm test`. */}}
{{- define "binderhub-service.test.selectorLabels" -}}
{{ include "binderhub-service.selectorLabels" . }}
app.kubernetes.io/component: test
{{- end }}

{{- define "binderhub-service.test.labels" -}}
{{ include "binderhub-service.labels" . }}
app.kubernetes.io/component: test
{{- end }}
