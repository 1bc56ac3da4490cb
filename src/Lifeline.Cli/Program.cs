using Lifeline.Cli;

return await LifelineCli.InvokeAsync(args);
