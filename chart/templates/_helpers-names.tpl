{{- /*
    Names of the chart's Kubernetes objects.

    Every object name (and every per-release path on the nodes) is made here,
    so that templates, NOTES.txt, tests and parent charts agree on them.
    Object names are at most 63 characters long (DNS-1123 label).

    `naming` chooses between two schemes: "release" (the default) names
    objects after the release, so that several releases can share a
    namespace; "2i2c" gives the names of the 2i2c binderhub-service chart
    (Service "binderhub", DaemonSet "docker-api", ...), for a release that
    takes over the objects of a 2i2c one.
*/}}


{{- /*
    binderhub-service.name:
        The chart name, or nameOverride.
*/}}
{{- define "binderhub-service.name" -}}
    {{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}


{{- /*
    binderhub-service.fullname:
        The prefix of every object name, unique per release:
        - fullnameOverride when set;
        - else the release name when it already contains the chart name (or
          nameOverride);
        - else "<release>-<name>".
*/}}
{{- define "binderhub-service.fullname" -}}
    {{- if .Values.fullnameOverride }}
        {{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
    {{- else }}
        {{- $name := include "binderhub-service.name" . }}
        {{- if contains $name .Release.Name }}
            {{- .Release.Name | trunc 63 | trimSuffix "-" }}
        {{- else }}
            {{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
        {{- end }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.suffixed-name:
        "<prefix>-<suffix>", with the prefix shortened so that the suffix
        always survives the 63 character limit.
        Called with (list "prefix" "suffix").
*/}}
{{- define "binderhub-service.suffixed-name" -}}
    {{- $prefix := index . 0 }}
    {{- $suffix := index . 1 }}
    {{- $max := sub 62 (len $suffix) | int }}
    {{- printf "%s-%s" ($prefix | trunc $max | trimSuffix "-") $suffix }}
{{- end }}


{{- /*
    binderhub-service.2i2c-prefix:
        The prefix of object names with `naming: 2i2c`, computed as the 2i2c
        chart does: fullnameOverride when it is a string (its default "" gives
        names without any prefix, such as the Service "binderhub"); when it is
        null, the release name, followed by "-<name>" unless it contains it.
*/}}
{{- define "binderhub-service.2i2c-prefix" -}}
    {{- if kindIs "string" .Values.fullnameOverride }}
        {{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
    {{- else }}
        {{- $name := include "binderhub-service.name" . }}
        {{- if contains $name .Release.Name }}
            {{- .Release.Name }}
        {{- else }}
            {{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
        {{- end }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.object-name:
        The name of one of the chart's objects, in the naming scheme chosen by
        `naming`. Called with (list $ "suffix" "2i2c-name"):
        - release (default): "<fullname>-<suffix>", or the fullname itself
          when the suffix is empty;
        - 2i2c: the 2i2c chart's name, "<prefix>-<2i2c-name>" or just
          "<2i2c-name>" without a prefix. An empty 2i2c-name stands for the
          2i2c Ingress, named like the prefix itself ("binderhub" without one).
*/}}
{{- define "binderhub-service.object-name" -}}
    {{- $root := index . 0 }}
    {{- $suffix := index . 1 }}
    {{- $name2i2c := index . 2 }}
    {{- if eq $root.Values.naming "2i2c" }}
        {{- $prefix := include "binderhub-service.2i2c-prefix" $root }}
        {{- if not $name2i2c }}
            {{- $prefix | default "binderhub" }}
        {{- else if $prefix }}
            {{- include "binderhub-service.suffixed-name" (list $prefix $name2i2c) }}
        {{- else }}
            {{- $name2i2c }}
        {{- end }}
    {{- else if $suffix }}
        {{- include "binderhub-service.suffixed-name" (list (include "binderhub-service.fullname" $root) $suffix) }}
    {{- else }}
        {{- include "binderhub-service.fullname" $root }}
    {{- end }}
{{- end }}


{{- /* The BinderHub Deployment, Service, Role, RoleBinding and PodDisruptionBudget. */}}
{{- define "binderhub-service.binderhub.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "" "binderhub") }}
{{- end }}

{{- /* The BinderHub Ingress. */}}
{{- define "binderhub-service.ingress.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "" "") }}
{{- end }}

{{- /* The Secret holding binderhub_config.py and the chart config. */}}
{{- define "binderhub-service.config.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "config" "binderhub") }}
{{- end }}

{{- /* The ServiceAccount used by the BinderHub pod ("" means the namespace default). */}}
{{- define "binderhub-service.serviceaccount.fullname" -}}
    {{- if .Values.serviceAccount.create }}
        {{- .Values.serviceAccount.name | default (include "binderhub-service.binderhub.fullname" .) }}
    {{- else }}
        {{- .Values.serviceAccount.name }}
    {{- end }}
{{- end }}

{{- /*
    The Secret with the docker config.json mounted into build pods
    (KubernetesBuildExecutor.push_secret): an existing one, or ours.
*/}}
{{- define "binderhub-service.push-secret.fullname" -}}
    {{- .Values.buildPodsRegistryCredentials.existingSecret | default (include "binderhub-service.object-name" (list . "build-pods-docker-config" "build-pods-docker-config")) }}
{{- end }}

{{- /* The docker-api DaemonSet and its extraFiles Secret. */}}
{{- define "binderhub-service.docker-api.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "docker-api" "docker-api") }}
{{- end }}

{{- /*
    The Secret the chart generates once and keeps across upgrades: the
    secrets every BinderHub replica must share (build token, cookie). The
    2i2c chart has none; with `naming: 2i2c` it sits beside the config
    Secret "binderhub".
*/}}
{{- define "binderhub-service.secrets.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "secrets" "binderhub-secrets") }}
{{- end }}

{{- /*
    The image cleaner's ServiceAccount (to cordon nodes), and its DaemonSet
    for the nodes' own Docker (dockerApi.type host). The 2i2c chart has no
    cleaner; with `naming: 2i2c` it is named beside "docker-api".
*/}}
{{- define "binderhub-service.image-cleaner.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "image-cleaner" "image-cleaner") }}
{{- end }}

{{- /*
    The image cleaner's ClusterRole and ClusterRoleBinding: cluster-wide
    objects, so the namespace is part of their name.
*/}}
{{- define "binderhub-service.image-cleaner.cluster-role-name" -}}
    {{- printf "%s-%s" .Release.Namespace (include "binderhub-service.image-cleaner.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /* NetworkPolicies. */}}
{{- define "binderhub-service.binderhub.netpol.fullname" -}}
    {{- include "binderhub-service.binderhub.fullname" . }}
{{- end }}
{{- define "binderhub-service.build-pods.netpol.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "build-pods" "binderhub-builder-network-policy") }}
{{- end }}
{{- define "binderhub-service.docker-api.netpol.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "docker-api" "binderhub-dind-network-policy") }}
{{- end }}

{{- /* The pod run by `helm test`. */}}
{{- define "binderhub-service.test.fullname" -}}
    {{- include "binderhub-service.object-name" (list . "test-versions" "binderhub-test-versions") }}
{{- end }}



{{- /*
    Per-release paths on the nodes.

    The container engine's socket and data live under directories named after
    the namespace and release, so that several releases can share a cluster
    (and its nodes) without sharing a daemon. The 2i2c chart's configuration
    snippets compute the same path, so the form stays: namespace-release (which
    names binder-a/b and binder/a-b alike).
*/}}
{{- define "binderhub-service.docker-api.host-id" -}}
    {{- printf "%s-%s" .Release.Namespace .Release.Name }}
{{- end }}

{{- /* Directory holding the daemon's socket (and dockerd's exec root). */}}
{{- define "binderhub-service.docker-api.socket-dir" -}}
    {{- printf "/var/run/%s/docker-api" (include "binderhub-service.docker-api.host-id" .) }}
{{- end }}

{{- /* The daemon's unix socket: what build pods mount. */}}
{{- define "binderhub-service.docker-api.socket-path" -}}
    {{- if eq .Values.dockerApi.type "host" }}
        {{- print "/var/run/docker.sock" }}
    {{- else }}
        {{- printf "%s/docker-api.sock" (include "binderhub-service.docker-api.socket-dir" .) }}
    {{- end }}
{{- end }}

{{- /* The daemon's image and layer storage, when dockerApi.storage is empty. */}}
{{- define "binderhub-service.docker-api.data-dir" -}}
    {{- printf "/var/lib/%s/docker-api" (include "binderhub-service.docker-api.host-id" .) }}
{{- end }}
