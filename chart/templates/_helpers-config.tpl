{{- /*
    BinderHub's effective configuration, and checks of the values that a
    JSON schema cannot express.
*/}}


{{- /*
    binderhub-service.base-url:
        config.BinderHub.base_url with exactly one trailing slash.
*/}}
{{- define "binderhub-service.base-url" -}}
    {{- $baseUrl := "/" }}
    {{- with .Values.config.BinderHub }}
        {{- $baseUrl = .base_url | default "/" }}
    {{- end }}
    {{- printf "%s/" (trimSuffix "/" $baseUrl) }}
{{- end }}


{{- /*
    binderhub-service.port:
        config.BinderHub.port, BinderHub's listening port (default 8585).
*/}}
{{- define "binderhub-service.port" -}}
    {{- $port := 8585 }}
    {{- with .Values.config.BinderHub }}
        {{- $port = .port | default 8585 }}
    {{- end }}
    {{- $port | int }}
{{- end }}


{{- /*
    binderhub-service.docker-api.image:
        The container engine's image: dockerApi.image, each of repository and
        tag falling back to dockerApi.defaultImages.<type>.
        Pinned by a recorded digest (imageDigests).
*/}}
{{- define "binderhub-service.docker-api.image" -}}
    {{- $image := printf "%s:%s" (include "binderhub-service.docker-api.repository" .) (include "binderhub-service.docker-api.tag" .) }}
    {{- include "binderhub-service.pinned-image" (list . $image "") }}
{{- end }}

{{- define "binderhub-service.docker-api.repository" -}}
    {{- $default := get .Values.dockerApi.defaultImages .Values.dockerApi.type | default dict }}
    {{- .Values.dockerApi.image.repository | default $default.repository }}
{{- end }}

{{- define "binderhub-service.docker-api.tag" -}}
    {{- $default := get .Values.dockerApi.defaultImages .Values.dockerApi.type | default dict }}
    {{- .Values.dockerApi.image.tag | default $default.tag }}
{{- end }}


{{- /*
    binderhub-service.pull-policy:
        imagePullPolicy of an image, called with (list pullPolicy image):
        the pullPolicy value when set; otherwise IfNotPresent for an image
        pinned by tag or digest, and Always for the tag `latest` or no tag
        (the kubelet's own default, written out). With IfNotPresent a node
        that has the image starts the container without asking the
        registry, so daemons and BinderHub restart while the registry is
        down; the chart's images are pinned, so a tag never changes under
        them.
*/}}
{{- define "binderhub-service.pull-policy" -}}
    {{- $policy := index . 0 }}
    {{- $image := index . 1 }}
    {{- $name := last (splitList "/" (first (splitList "@" $image))) }}
    {{- $tag := "" }}
    {{- if contains ":" $name }}
        {{- $tag = last (splitList ":" $name) }}
    {{- end }}
    {{- if $policy }}
        {{- $policy }}
    {{- else if or (contains "@" $image) (and $tag (ne $tag "latest")) }}
        {{- print "IfNotPresent" }}
    {{- else }}
        {{- print "Always" }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.pull-secrets:
        A pod's imagePullSecrets from a pullSecrets value: names, or
        {name: ...} objects.
*/}}
{{- define "binderhub-service.pull-secrets" -}}
{{- range . }}
{{- if kindIs "string" . }}
- name: {{ . | quote }}
{{- else }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- end }}


{{- /*
    binderhub-service.docker-api.tolerations:
        Tolerations of the pods that serve build pods on their node (the
        engine, the image cleaner of the nodes' Docker): the ones BinderHub
        gives build pods (z2jh's user nodes), so that they run wherever a
        build pod may land, and dockerApi.tolerations. Those already in
        dockerApi.tolerations are not repeated.
*/}}
{{- define "binderhub-service.docker-api.tolerations" -}}
    {{- $tolerations := .Values.dockerApi.tolerations | default list }}
    {{- $userNodes := list }}
    {{- range $key := list "hub.jupyter.org/dedicated" "hub.jupyter.org_dedicated" }}
        {{- $toleration := dict "key" $key "operator" "Equal" "value" "user" "effect" "NoSchedule" }}
        {{- if not (has $toleration $tolerations) }}
            {{- $userNodes = append $userNodes $toleration }}
        {{- end }}
    {{- end }}
    {{- concat $userNodes $tolerations | toYaml }}
{{- end }}


{{- /*
    binderhub-service.pinned-image:
        An image with its digest, called with (list $ "repository:tag"
        digest): repository:tag@digest with the digest given (a value such
        as image.digest), else with the one imageDigests records for
        exactly this image, else repository:tag alone. Recorded digests
        are looked up by the whole reference, so an image or tag set in
        the values is never held to the digest of another.
*/}}
{{- define "binderhub-service.pinned-image" -}}
    {{- $root := index . 0 }}
    {{- $image := index . 1 }}
    {{- $digest := index . 2 | default (get ($root.Values.imageDigests | default dict) $image) }}
    {{- list $image $digest | compact | join "@" }}
{{- end }}


{{- /*
    binderhub-service.binderhub.image:
        The BinderHub image (also run by the helm test Job), pinned by
        image.digest or a recorded digest.
*/}}
{{- define "binderhub-service.binderhub.image" -}}
    {{- $image := printf "%s:%s" .Values.image.repository .Values.image.tag }}
    {{- include "binderhub-service.pinned-image" (list . $image .Values.image.digest) }}
{{- end }}


{{- /*
    binderhub-service.image-cleaner.image:
        The image cleaner's image, pinned by a recorded digest.
*/}}
{{- define "binderhub-service.image-cleaner.image" -}}
    {{- $image := .Values.dockerApi.imageCleaner.image }}
    {{- include "binderhub-service.pinned-image" (list . (printf "%s:%s" $image.repository $image.tag) "") }}
{{- end }}


{{- /*
    binderhub-service.quantity-text:
        A quantity value as Kubernetes writes it: a whole number of bytes
        reaches templates as a float64 (1.073741824e+09), written as an
        integer.
*/}}
{{- define "binderhub-service.quantity-text" -}}
    {{- if and (kindIs "float64" .) (eq (floor .) .) }}
        {{- int64 . }}
    {{- else }}
        {{- toString . | trim }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.bytes:
        A memory quantity (123, 512Mi, 2Gi, 1.5G, 1e9, ...) as a whole number
        of bytes. The schema has checked its form.
*/}}
{{- define "binderhub-service.bytes" -}}
    {{- include "binderhub-service.quantity" . | float64 | floor | int64 }}
{{- end }}


{{- /*
    binderhub-service.build-capacity:
        How many builds of buildPods.memory fit in one build daemon at once:
        its memory limit less its own request (dockerd and containerd),
        divided by buildPods.memory. Builds run inside the daemon's container,
        so the daemon's limit is shared by every build on its node. Empty when
        there is no limit to share (dockerApi.type host, or no
        dockerApi.resources.limits.memory).
*/}}
{{- define "binderhub-service.build-capacity" -}}
    {{- $resources := .Values.dockerApi.resources | default dict }}
    {{- $limit := ($resources.limits | default dict).memory }}
    {{- if and (ne .Values.dockerApi.type "host") $limit }}
        {{- $request := ($resources.requests | default dict).memory | default 0 }}
        {{- $l := include "binderhub-service.bytes" $limit | int64 }}
        {{- $r := include "binderhub-service.bytes" $request | int64 }}
        {{- $m := include "binderhub-service.bytes" .Values.buildPods.memory | int64 }}
        {{- if le $m 0 }}
            {{- fail "\n\nbuildPods.memory must be more than 0." }}
        {{- end }}
        {{- div (sub $l $r) $m }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.replicas-or-one:
        config.BinderHub.concurrent_build_limit applies per BinderHub process:
        the number of processes, at least 1.
*/}}
{{- define "binderhub-service.replicas-or-one" -}}
    {{- max 1 (int .Values.replicas) }}
{{- end }}


{{- /*
    binderhub-service.build-memory-traits:
        The deprecated memory traits of BinderHub set in config, as
        "Class.trait" lines. BinderHub turns them into the build pods'
        resources only when KubernetesBuildExecutor.resources is unset.
*/}}
{{- define "binderhub-service.build-memory-traits" -}}
    {{- $found := list }}
    {{- range $pair := list (list "BinderHub" "build_memory_limit") (list "BinderHub" "build_memory_request") (list "BuildExecutor" "memory_limit") (list "KubernetesBuildExecutor" "memory_limit") (list "KubernetesBuildExecutor" "memory_request") }}
        {{- if hasKey (get $.Values.config (index $pair 0) | default dict) (index $pair 1) }}
            {{- $found = append $found (join "." $pair) }}
        {{- end }}
    {{- end }}
    {{- join "\n" $found }}
{{- end }}


{{- /*
    binderhub-service.binderhub.secret-mode:
        defaultMode of the Secret and token volumes of the BinderHub pod, in
        decimal. 0440 (288) when podSecurityContext.fsGroup gives the files
        the pod's group; without an fsGroup the files belong to root, so 0444
        (292) keeps them readable by the non-root user.
*/}}
{{- define "binderhub-service.binderhub.secret-mode" -}}
    {{- if (.Values.podSecurityContext | default dict).fsGroup }}
        {{- 288 }}
    {{- else }}
        {{- 292 }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.hub.*:
        Values derived from hubIntegration.
*/}}
{{- define "binderhub-service.hub.base-url" -}}
    {{- printf "%s/" (trimSuffix "/" (.Values.hubIntegration.baseUrl | default "/")) }}
{{- end }}

{{- define "binderhub-service.hub.api-url" -}}
    {{- .Values.hubIntegration.apiUrl | default (printf "http://hub:8081%shub/api/" (include "binderhub-service.hub.base-url" .)) }}
{{- end }}

{{- define "binderhub-service.hub.client-id" -}}
    {{- .Values.hubIntegration.oauthClientId | default (printf "service-%s" .Values.hubIntegration.serviceName) }}
{{- end }}

{{- define "binderhub-service.hub.callback-url" -}}
    {{- .Values.hubIntegration.oauthCallbackUrl | default (printf "%sservices/%s/oauth_callback" (include "binderhub-service.hub.base-url" .) .Values.hubIntegration.serviceName) }}
{{- end }}


{{- /*
    binderhub-service.config:
        The traitlets configuration given to BinderHub: .Values.config, with
        the traits the chart derives from its other values added where the
        user did not set them in config.<Class>.<trait>:

        KubernetesBuildExecutor.push_secret     the push Secret's name (with
                                                gkeWorkloadIdentity a name only:
                                                BinderHub runs repo2docker with
                                                --push when it is set, and builds
                                                that get credentials from the
                                                registry class mount no Secret)
        KubernetesBuildExecutor.docker_host     the per-release daemon socket
        KubernetesBuildExecutor.node_selector   dockerApi.nodeSelector (build
                                                pods need a daemon on their node)
        KubernetesBuildExecutor.resources       buildPods.memory as the build
                                                pods' memory request (not with
                                                BinderHub's deprecated memory
                                                traits, which it turns into
                                                resources itself)
        KubernetesBuildExecutor.sticky_builds   buildPods.stickyBuilds (dind
                                                and podman only: it needs the
                                                daemon pods)
        BinderHub.concurrent_build_limit        the builds one daemon holds
                                                (build-capacity), shared by the
                                                replicas
        BinderHub.auth_enabled, hub_url,
        hub_url_local                           hubIntegration

        DockerRegistry.url                      https://<gkeWorkloadIdentity.registryHost>
                                                (with gkeWorkloadIdentity)

        buildPods.targetRepoDir is appended to repo2docker_extra_args.
*/}}
{{- define "binderhub-service.config" -}}
    {{- $config := dict }}
    {{- range $class, $traits := .Values.config }}
        {{- $_ := set $config $class (deepCopy ($traits | default dict)) }}
    {{- end }}
    {{- range $class := list "BinderHub" "BuildExecutor" "KubernetesBuildExecutor" }}
        {{- if not (hasKey $config $class) }}
            {{- $_ := set $config $class dict }}
        {{- end }}
    {{- end }}

    {{- /* KubernetesBuildExecutor */}}
    {{- $kbe := get $config "KubernetesBuildExecutor" }}
    {{- if not (hasKey $kbe "push_secret") }}
        {{- $_ := set $kbe "push_secret" (include "binderhub-service.push-secret.fullname" .) }}
    {{- end }}
    {{- if not (hasKey $kbe "docker_host") }}
        {{- $_ := set $kbe "docker_host" (include "binderhub-service.docker-api.socket-path" .) }}
    {{- end }}
    {{- if and (ne .Values.dockerApi.type "host") .Values.dockerApi.nodeSelector (not (hasKey $kbe "node_selector")) }}
        {{- $_ := set $kbe "node_selector" (deepCopy .Values.dockerApi.nodeSelector) }}
    {{- end }}
    {{- $bh := get $config "BinderHub" }}

    {{- /*
        Build capacity. A build pod only runs repo2docker's client; the build
        itself runs in the daemon. Its memory request reserves room on the
        node for the build, so that the scheduler puts no more builds on a
        node than its memory allows.
    */}}
    {{- if not (or (hasKey $kbe "resources") (include "binderhub-service.build-memory-traits" .)) }}
        {{- $_ := set $kbe "resources" (dict "requests" (dict "memory" (include "binderhub-service.quantity-text" .Values.buildPods.memory))) }}
    {{- end }}
    {{- if and (ne .Values.dockerApi.type "host") (not (hasKey $kbe "sticky_builds")) (not (hasKey $bh "sticky_builds")) }}
        {{- $_ := set $kbe "sticky_builds" .Values.buildPods.stickyBuilds }}
    {{- end }}
    {{- with include "binderhub-service.build-capacity" . }}
        {{- if not (hasKey $bh "concurrent_build_limit") }}
            {{- $replicas := include "binderhub-service.replicas-or-one" $ | int }}
            {{- $_ := set $bh "concurrent_build_limit" (max 1 (div (int .) $replicas)) }}
        {{- end }}
    {{- end }}

    {{- /*
        Keyless Artifact Registry: the registry class (files/
        gke_workload_identity.py) looks images up at the registry's URL. There
        is no docker config.json to take the URL from.
    */}}
    {{- if .Values.gkeWorkloadIdentity.enabled }}
        {{- if not (hasKey $config "DockerRegistry") }}
            {{- $_ := set $config "DockerRegistry" dict }}
        {{- end }}
        {{- $registry := get $config "DockerRegistry" }}
        {{- if not (hasKey $registry "url") }}
            {{- $_ := set $registry "url" (printf "https://%s" .Values.gkeWorkloadIdentity.registryHost) }}
        {{- end }}
    {{- end }}

    {{- /* BinderHub, as a JupyterHub service */}}
    {{- if .Values.hubIntegration.enabled }}
        {{- if not (hasKey $bh "auth_enabled") }}
            {{- $_ := set $bh "auth_enabled" .Values.hubIntegration.auth }}
        {{- end }}
        {{- if and .Values.hubIntegration.url (not (hasKey $bh "hub_url")) }}
            {{- $_ := set $bh "hub_url" .Values.hubIntegration.url }}
        {{- end }}
        {{- if and .Values.hubIntegration.urlLocal (not (hasKey $bh "hub_url_local")) }}
            {{- $_ := set $bh "hub_url_local" .Values.hubIntegration.urlLocal }}
        {{- end }}
    {{- end }}

    {{- /* repo2docker's --target-repo-dir */}}
    {{- with .Values.buildPods.targetRepoDir }}
        {{- $arg := printf "--target-repo-dir=%s" . }}
        {{- /*
            KubernetesBuildExecutor's own setting, when present, hides the one
            of its parent class BuildExecutor: add the argument where it counts.
        */}}
        {{- $section := get $config "BuildExecutor" }}
        {{- $name := "BuildExecutor" }}
        {{- if hasKey $kbe "repo2docker_extra_args" }}
            {{- $section = $kbe }}
            {{- $name = "KubernetesBuildExecutor" }}
        {{- end }}
        {{- $args := list }}
        {{- range $section.repo2docker_extra_args | default list }}
            {{- if and (hasPrefix "--target-repo-dir" .) (ne . $arg) }}
                {{- fail (printf "\n\nbuildPods.targetRepoDir (%s) conflicts with %q in config.%s.repo2docker_extra_args: set the directory in one place only." $arg . $name) }}
            {{- end }}
            {{- if ne . $arg }}
                {{- $args = append $args . }}
            {{- end }}
        {{- end }}
        {{- $_ := set $section "repo2docker_extra_args" (append $args $arg) }}
    {{- end }}

    {{- range $class, $traits := $config }}
        {{- if not $traits }}
            {{- $_ := unset $config $class }}
        {{- end }}
    {{- end }}
    {{- toYaml $config }}
{{- end }}


{{- /*
    binderhub-service.chart-config:
        The YAML file read by files/binderhub_config.py.
*/}}
{{- define "binderhub-service.chart-config" -}}
config:
  {{- include "binderhub-service.config" . | nindent 2 }}
extraConfig:
  {{- .Values.extraConfig | default dict | toYaml | nindent 2 }}
custom:
  {{- .Values.custom | default dict | toYaml | nindent 2 }}
{{- if .Values.gkeWorkloadIdentity.enabled }}
gkeWorkloadIdentity:
  enabled: true
{{- end }}
{{- end }}


{{- /*
    binderhub-service.config.files:
        The files of BinderHub's configuration Secret, as a JSON map of name
        to content. The BinderHub pod carries their checksum (not the
        manifest's: the manifest's labels name the chart version), so that a
        change restarts BinderHub and a new chart version alone does not.
*/}}
{{- define "binderhub-service.config.files" -}}
    {{- $files := dict "binderhub_config.py" (.Files.Get "files/binderhub_config.py") "chart-config.yaml" (include "binderhub-service.chart-config" .) }}
    {{- with .Values.extraCredentials.googleServiceAccountKey }}
        {{- $_ := set $files "gcp-sa-key.json" . }}
    {{- end }}
    {{- if .Values.gkeWorkloadIdentity.enabled }}
        {{- $_ := set $files "gke_workload_identity.py" (.Files.Get "files/gke_workload_identity.py") }}
    {{- end }}
    {{- toJson $files }}
{{- end }}


{{- /*
    binderhub-service.push-secret.config-json:
        The docker config.json of the push Secret the chart creates:
        buildPodsRegistryCredentials, merged with buildPodsDockerConfig (the
        credentials win for the same registry, as in the 2i2c chart). A
        server without username and password (a registry that needs no
        credentials) gets an entry without "auth": docker then sends no
        credentials, and BinderHub still takes the server as its registry
        URL.
*/}}
{{- define "binderhub-service.push-secret.config-json" -}}
    {{- $dockerConfig := dict "auths" dict }}
    {{- with .Values.buildPodsRegistryCredentials }}
        {{- if .server }}
            {{- $entry := dict }}
            {{- if or .username .password }}
                {{- $_ := set $entry "auth" (printf "%s:%s" .username .password | b64enc) }}
            {{- end }}
            {{- $_ := set $dockerConfig.auths .server $entry }}
        {{- end }}
    {{- end }}
    {{- $dockerConfig = merge $dockerConfig (deepCopy (.Values.buildPodsDockerConfig | default dict)) }}
    {{- $dockerConfig | toPrettyJson }}
{{- end }}


{{- /*
    binderhub-service.shared-secret:
        A secret every BinderHub replica must share (the build token secret,
        the cookie secret), called with (list $ "key"), base64 encoded:
        - the value kept in the chart's Secret by an earlier install or
          upgrade (looked up in the cluster);
        - else, when helm renders against the cluster, 32 new random bytes,
          hex encoded (BinderHub reads build_token_secret as hex);
        - else empty. `helm template` (and `bhsvc render`) has no cluster: a
          random value would differ at each render, and one that did not would
          be no secret. BinderHub then draws its own per process, as without
          the chart. The ConfigMap kube-root-ca.crt, which Kubernetes puts in
          every namespace, tells the two cases apart; with
          `helm install --create-namespace` the namespace does not exist yet
          when helm renders, and the next upgrade generates the values.
*/}}
{{- define "binderhub-service.shared-secret" -}}
    {{- $root := index . 0 }}
    {{- $key := index . 1 }}
    {{- $namespace := $root.Release.Namespace }}
    {{- $existing := lookup "v1" "Secret" $namespace (include "binderhub-service.secrets.fullname" $root) | default dict }}
    {{- $value := get (get $existing "data" | default dict) $key }}
    {{- if $value }}
        {{- $value }}
    {{- else if lookup "v1" "ConfigMap" $namespace "kube-root-ca.crt" }}
        {{- randAlphaNum 64 | sha256sum | b64enc }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.validate:
        Fail early, with the name of the values involved, on combinations the
        schema cannot reject.
*/}}
{{- define "binderhub-service.validate" -}}
    {{- $types := list "dind" "podman" "host" }}
    {{- if not (has .Values.dockerApi.type $types) }}
        {{- fail (printf "\n\ndockerApi.type must be one of dind, podman or host, not %q." (toString .Values.dockerApi.type)) }}
    {{- end }}
    {{- /* A unix socket path holds at most 107 bytes (108 with its NUL). */}}
    {{- $socket := include "binderhub-service.docker-api.socket-path" . }}
    {{- if gt (len $socket) 107 }}
        {{- fail (printf "\n\nThe build daemon's socket path %s is %d characters, more than the 107 a unix socket allows: use a shorter namespace or release name." $socket (len $socket)) }}
    {{- end }}
    {{- if and .Values.rbac.create (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
        {{- fail "\n\nserviceAccount.create is false and serviceAccount.name is empty: the Role would go to the namespace's default ServiceAccount, which every pod there uses; name the ServiceAccount BinderHub runs as." }}
    {{- end }}

    {{- $creds := .Values.buildPodsRegistryCredentials }}
    {{- if $creds.existingSecret }}
        {{- range $key := list "server" "username" "password" }}
            {{- if get $creds $key }}
                {{- fail (printf "\n\nbuildPodsRegistryCredentials.existingSecret and buildPodsRegistryCredentials.%s are both set: the existing Secret already holds the credentials, set only one of them." $key) }}
            {{- end }}
        {{- end }}
        {{- if .Values.buildPodsDockerConfig }}
            {{- fail "\n\nbuildPodsRegistryCredentials.existingSecret and buildPodsDockerConfig are both set: the existing Secret is used as is, put that docker config into it instead." }}
        {{- end }}
    {{- else if or $creds.username $creds.password }}
        {{- /* A server alone is a registry that needs no credentials. */}}
        {{- range $key := list "server" "username" "password" }}
            {{- if not (get $creds $key) }}
                {{- fail (printf "\n\nbuildPodsRegistryCredentials.%s is empty: set server, username and password together (or only server, for a registry that needs no credentials)." $key) }}
            {{- end }}
        {{- end }}
    {{- end }}

    {{- include "binderhub-service.validate.workload-identity" . }}

    {{- $hub := .Values.hubIntegration }}
    {{- if $hub.enabled }}
        {{- if and $hub.apiUrl (not (hasSuffix "/" $hub.apiUrl)) }}
            {{- fail (printf "\n\nhubIntegration.apiUrl must end with a slash, e.g. %q." (printf "%s/" $hub.apiUrl)) }}
        {{- end }}
        {{- if not $hub.apiToken.existingSecret }}
            {{- fail "\n\nhubIntegration.apiToken.existingSecret is empty: BinderHub needs the API token of its JupyterHub service (z2jh keeps it in the Secret \"hub\")." }}
        {{- end }}
    {{- end }}

    {{- include "binderhub-service.validate.build-daemon" . }}
    {{- with .Values.dockerApi.imageCleaner }}
        {{- if and .enabled .cordon (not $.Values.rbac.create) }}
            {{- fail "\n\ndockerApi.imageCleaner.cordon is true but rbac.create is false: the cleaner needs the ServiceAccount and ClusterRole (get and patch nodes) that the chart creates with rbac.create." }}
        {{- end }}
    {{- end }}
{{- end }}


{{- /*
    binderhub-service.validate.build-daemon:
        The engine image matches dockerApi.type, one build fits in the
        daemon, and sticky builds have daemon pods to stick to.
*/}}
{{- define "binderhub-service.validate.build-daemon" -}}
    {{- $type := .Values.dockerApi.type }}
    {{- if ne $type "host" }}
        {{- $image := .Values.dockerApi.image }}
        {{- $engine := include "binderhub-service.docker-api.image" . }}
        {{- $repository := include "binderhub-service.docker-api.repository" . }}
        {{- $tag := include "binderhub-service.docker-api.tag" . }}
        {{- $docker := or (eq (last (splitList "/" $repository)) "docker") (contains "dind" $tag) }}
        {{- $podman := contains "podman" $repository }}
        {{- if or (and (eq $type "podman") $docker) (and (eq $type "dind") $podman) }}
            {{- $key := printf "dockerApi.defaultImages.%s" $type }}
            {{- if $image.repository }}
                {{- $key = "dockerApi.image.repository" }}
            {{- else if $image.tag }}
                {{- $key = "dockerApi.image.tag" }}
            {{- end }}
            {{- fail (printf "\n\n%s makes the %s engine image %s, which is not a %s image: set dockerApi.image.repository and dockerApi.image.tag together, or leave both empty for the pinned default (dockerApi.defaultImages.%s)." $key $type $engine $type $type) }}
        {{- end }}
        {{- with include "binderhub-service.build-capacity" . }}
            {{- if lt (int .) 1 }}
                {{- $resources := $.Values.dockerApi.resources }}
                {{- $request := ($resources.requests | default dict).memory | default 0 }}
                {{- fail (printf "\n\ndockerApi.resources.limits.memory (%s) leaves no room for a build of buildPods.memory (%s) once the daemon's own dockerApi.resources.requests.memory (%s) is counted: raise the limit or lower buildPods.memory." (include "binderhub-service.quantity-text" $resources.limits.memory) (include "binderhub-service.quantity-text" $.Values.buildPods.memory) (include "binderhub-service.quantity-text" $request)) }}
            {{- end }}
        {{- end }}
    {{- else }}
        {{- $sticky := or (get (.Values.config.KubernetesBuildExecutor | default dict) "sticky_builds") (get (.Values.config.BinderHub | default dict) "sticky_builds") }}
        {{- if $sticky }}
            {{- fail "\n\nconfig sets sticky_builds but dockerApi.type is host: BinderHub picks a node among the pods labelled component=image-builder,app=binder, which only the dind and podman daemons are, and fails every build when there is none. Remove sticky_builds from config." }}
        {{- end }}
    {{- end }}
{{- end }}



{{- /*
    binderhub-service.validate.workload-identity:
        With gkeWorkloadIdentity, BinderHub's ServiceAccount is the pusher and
        no push credentials exist: none may be given, and the ServiceAccount
        must be the chart's, which it annotates.
*/}}
{{- define "binderhub-service.validate.workload-identity" -}}
    {{- $wi := .Values.gkeWorkloadIdentity }}
    {{- if $wi.enabled }}
        {{- range $key := list "googleServiceAccount" "registryHost" }}
            {{- if not (get $wi $key) }}
                {{- fail (printf "\n\ngkeWorkloadIdentity.%s is empty: keyless pushes need the pusher's Google service account (googleServiceAccount) and the registry's host, such as europe-west10-docker.pkg.dev (registryHost)." $key) }}
            {{- end }}
        {{- end }}
        {{- $creds := .Values.buildPodsRegistryCredentials }}
        {{- range $key := list "server" "username" "password" "existingSecret" }}
            {{- if get $creds $key }}
                {{- fail (printf "\n\ngkeWorkloadIdentity.enabled and buildPodsRegistryCredentials.%s are both set: with Workload Identity builds get short-lived push credentials from BinderHub; remove the static ones." $key) }}
            {{- end }}
        {{- end }}
        {{- if .Values.buildPodsDockerConfig }}
            {{- fail "\n\ngkeWorkloadIdentity.enabled and buildPodsDockerConfig are both set: with Workload Identity there is no push Secret to put a docker config in." }}
        {{- end }}
        {{- if .Values.extraCredentials.googleServiceAccountKey }}
            {{- fail "\n\ngkeWorkloadIdentity.enabled and extraCredentials.googleServiceAccountKey are both set: with Workload Identity BinderHub needs no key; remove it." }}
        {{- end }}
        {{- if not .Values.serviceAccount.create }}
            {{- fail "\n\ngkeWorkloadIdentity.enabled needs serviceAccount.create: the chart annotates the ServiceAccount it creates with the Google service account BinderHub acts as." }}
        {{- end }}
        {{- $annotation := index (.Values.serviceAccount.annotations | default dict) "iam.gke.io/gcp-service-account" }}
        {{- if and $annotation (ne $annotation $wi.googleServiceAccount) }}
            {{- fail (printf "\n\nserviceAccount.annotations sets iam.gke.io/gcp-service-account to %q, but gkeWorkloadIdentity.googleServiceAccount is %q: set it in gkeWorkloadIdentity only." $annotation $wi.googleServiceAccount) }}
        {{- end }}
    {{- end }}
{{- end }}
