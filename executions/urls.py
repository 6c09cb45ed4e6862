from django.urls import path

from executions import traces_api, views

urlpatterns = [
    path("executions", views.ExecutionListView.as_view()),
    path("executions/approval-inbox", views.ApprovalInboxView.as_view()),
    path("executions/<str:execution_id>", views.ExecutionDetailView.as_view()),
    path("executions/<str:execution_id>/tree", views.ExecutionTreeView.as_view()),
    path("executions/<str:execution_id>/cancel", views.ExecutionCancelView.as_view()),
    path("executions/<str:execution_id>/stream", views.execution_stream),
    path("executions/<str:execution_id>/approve", views.ExecutionDecisionView.as_view()),
    path("executions/<str:execution_id>/deny", views.ExecutionDenyView.as_view()),
    path("agents/<str:agent_id>/execute", views.agent_execute),
    path("traces", traces_api.TraceListView.as_view()),
    path("traces/summary", traces_api.TraceSummaryView.as_view()),
    path("traces/<str:trace_id>", traces_api.TraceDetailView.as_view()),
]
