{{- /*
    Labels of the chart's Kubernetes objects.

    Every label is made here. Selectors use only the stable labels
    (binderhub-service.selectorLabels plus a component), never the chart
    version, so that upgrades keep matching the same pods.

    Pod templates carry only labels that change when the pod must restart
    anyway: the chart and app versions stay on the objects' own metadata, so
    that a new chart version that changes nothing in a pod (image, arguments,
    configuration) does not restart it (a DaemonSet restart would kill the
    builds running on each node).
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
    binderhub-service.podTemplateLabels:
        Common labels of pod templates: stable across chart versions.
*/}}
{{- define "binderhub-service.podTemplateLabels" -}}
{{ include "binderhub-service.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}


{{- /*
    binderhub-service.labels:
        Common labels for every object's metadata.
*/}}
{{- define "binderhub-service.labels" -}}
{{ include "binderhub-service.podTemplateLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
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
    the user's podLabels. The chart's own labels win over podLabels. No
    chart or app version (see above).
*/}}
{{- define "binderhub-service.binderhub.podLabels" -}}
{{- $labels := printf "%s\napp.kubernetes.io/component: binderhub" (include "binderhub-service.podTemplateLabels" .) | fromYaml }}
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
{{ include "binderhub-service.podTemplateLabels" . }}
app.kubernetes.io/component: docker-api
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

{{- define "binderhub-service.test.podLabels" -}}
{{ include "binderhub-service.podTemplateLabels" . }}
app.kubernetes.io/component: test
{{- end }}


{{- /*
    The image cleaner: its RBAC objects, and its own DaemonSet when it cleans
    the nodes' Docker (dockerApi.type host; with dind and podman it runs in
    the docker-api pods).
*/}}
{{- define "binderhub-service.image-cleaner.selectorLabels" -}}
{{ include "binderhub-service.selectorLabels" . }}
app.kubernetes.io/component: image-cleaner
{{- end }}

{{- define "binderhub-service.image-cleaner.labels" -}}
{{ include "binderhub-service.labels" . }}
app.kubernetes.io/component: image-cleaner
{{- end }}

{{- define "binderhub-service.image-cleaner.podLabels" -}}
{{ include "binderhub-service.podTemplateLabels" . }}
app.kubernetes.io/component: image-cleaner
{{- end }}
