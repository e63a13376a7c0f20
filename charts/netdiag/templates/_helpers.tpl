{{/* The chart name (nameOverride wins). */}}
{{- define "netdiag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The base name of every resource: fullnameOverride, else <release>-<name> (just the release when it contains the name). */}}
{{- define "netdiag.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "netdiag.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "netdiag.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "netdiag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: netdiag
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of the operator pods (never app.kubernetes.io/managed-by=netdiag: that marks collectors). */}}
{{- define "netdiag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "netdiag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "netdiag.cniTapSelectorLabels" -}}
app.kubernetes.io/name: {{ include "netdiag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: cni-tap
{{- end -}}

{{- define "netdiag.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "netdiag.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "netdiag.collectorServiceAccountName" -}}
{{- if .Values.collectorServiceAccount.create -}}
{{- default (printf "%s-collector" (include "netdiag.fullname" .)) .Values.collectorServiceAccount.name -}}
{{- else -}}
{{- required "collectorServiceAccount.name is required when collectorServiceAccount.create is false" .Values.collectorServiceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator's image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "netdiag.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "netdiag.collectorImage" -}}
{{- default (include "netdiag.image" .) .Values.collector.image -}}
{{- end -}}

{{- define "netdiag.leaseName" -}}
{{- default (printf "%s-leader" (include "netdiag.fullname" .)) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/* The operator's namespace: namespaceOverride, else the release's. */}}
{{- define "netdiag.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}
