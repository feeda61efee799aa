from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "syncadmin"
admin.site.site_title = "syncadmin"
admin.site.index_title = "Zuora ↔ NetSuite customer sync"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
